//! Protected areas (docs/GAME-PROPS.md, "Protected areas"): the catalog lists them,
//! `protect_area` buys square metres with energy for an `area` certificate, `me` and
//! the boards count trees and square metres, every refusal has its code and changes
//! nothing, the audit stays balanced, and the certificates survive a restart.

mod support;

use canopy_server::game::AdminOp;
use canopy_shared::admin::AuditReport;
use canopy_shared::model::{BoardPeriod, CertificateKind};
use canopy_shared::reply::{PlantResult, SpeciesResult};
use canopy_shared::{ErrorBody, ErrorCode, Event, Request};
use support::{Player, Sim, code_of, config_with};

fn protect(
    sim: &mut Sim,
    player: &Player,
    area: &str,
    square_metres: u64,
) -> Result<PlantResult, ErrorBody> {
    sim.call(
        player.session,
        Request::ProtectArea {
            area: area.to_owned(),
            square_metres,
        },
    )
}

fn server_audit(sim: &mut Sim) -> AuditReport {
    sim.admin(AdminOp::Audit).expect("the audit runs")
}

#[test]
fn the_catalog_lists_areas_cheapest_per_square_metre_first() {
    let mut sim = Sim::new();
    let mei = sim.register("mei");
    let catalog: SpeciesResult = sim
        .call(mei.session, Request::Species {})
        .expect("the catalog");
    let prices: Vec<(&str, u64)> = catalog
        .areas
        .iter()
        .map(|area| (area.id.as_str(), area.grams_per_m2))
        .collect();
    assert_eq!(
        prices,
        [
            ("qilian_mountains", 12),
            ("sanjiangyuan", 18),
            ("xishuangbanna", 28)
        ]
    );
    assert!(
        catalog
            .areas
            .iter()
            .all(|area| area.max_square_metres == 100)
    );
}

#[test]
fn protecting_an_area_spends_its_price_for_an_area_certificate() {
    let mut sim = Sim::new();
    let (mei, lin) = (sim.register("mei"), sim.register("lin"));
    sim.befriend(&mei, &lin);
    let funded = sim.fund(&mei, 1_000);
    let id = sim.submit(
        mei.session,
        Request::ProtectArea {
            area: "sanjiangyuan".into(),
            square_metres: 10,
        },
    );
    let tick = sim.tick();
    let protected: PlantResult = tick.result(id).expect("affordable");
    let certificate = &protected.certificate;
    assert_eq!(
        (
            certificate.kind,
            certificate.square_metres,
            certificate.grams,
            certificate.species.as_str(),
            certificate.region.as_str(),
        ),
        (
            CertificateKind::Area,
            Some(10),
            180,
            "sanjiangyuan",
            "Qinghai"
        )
    );
    assert_eq!(protected.energy, funded - 180);
    assert!(tick.events_for(mei.id).iter().any(|event| matches!(
        event,
        Event::Certificate { certificate: c } if c == certificate
    )));

    protect(&mut sim, &mei, "qilian_mountains", 5).expect("60 g more");
    let me = sim.me(&mei).player;
    assert_eq!((me.trees, me.protected_m2), (0, 15));
    assert_eq!(me.energy, funded - 240);
    assert_eq!(me.certificates.len(), 2);
    let board = sim
        .leaderboard(&lin, BoardPeriod::Total, None)
        .expect("a board")
        .entries;
    let mei_row = board
        .iter()
        .find(|entry| entry.player_id == mei.id)
        .expect("mei is on lin's board");
    assert_eq!((mei_row.trees, mei_row.protected_m2), (0, 15));

    sim.assert_conserved();
    let audit = server_audit(&mut sim);
    assert!(audit.balanced, "{:?}", audit.problems);
    assert_eq!(audit.planted, 240, "areas are spent like trees");
}

#[test]
fn every_refusal_has_its_code_and_changes_nothing() {
    let mut sim = Sim::new();
    let mei = sim.register("mei");
    let funded = sim.fund(&mei, 500);
    assert_eq!(
        code_of(protect(&mut sim, &mei, "atlantis", 1)),
        ErrorCode::NotFound
    );
    assert_eq!(
        code_of(protect(&mut sim, &mei, "saxaul", 1)),
        ErrorCode::NotFound,
        "a species is planted, not protected"
    );
    assert_eq!(
        code_of(protect(&mut sim, &mei, "sanjiangyuan", 0)),
        ErrorCode::BadRequest
    );
    assert_eq!(
        code_of(protect(&mut sim, &mei, "atlantis", 0)),
        ErrorCode::BadRequest,
        "BAD_REQUEST comes first"
    );
    assert_eq!(
        code_of(protect(&mut sim, &mei, "sanjiangyuan", 101)),
        ErrorCode::BadRequest,
        "past the area's maximum"
    );
    assert_eq!(
        code_of(protect(&mut sim, &mei, "xishuangbanna", 100)),
        ErrorCode::InsufficientEnergy,
        "2,800 g"
    );
    let me = sim.me(&mei).player;
    assert_eq!((me.energy, me.protected_m2), (funded, 0));
    assert!(me.certificates.is_empty());
    sim.assert_conserved();
}

/// A catalog with a sapling anyone can afford, and one area.
const SMALL_CATALOG: &str = r#"
[[species]]
id = "sapling"
name = "Sapling"
name_zh = "树苗"
grams = 100
region = "Alxa"

[[areas]]
id = "sanjiangyuan"
name = "Sanjiangyuan"
name_zh = "三江源"
region = "Qinghai"
grams_per_m2 = 18
max_square_metres = 100
"#;

#[test]
fn trees_and_areas_survive_a_restart_in_the_order_they_were_certified() {
    let dir = tempfile::tempdir().expect("temp dir");
    let catalog = dir.path().join("catalog.toml");
    std::fs::write(&catalog, SMALL_CATALOG).expect("catalog written");
    let catalog = catalog.to_str().expect("a UTF-8 path");
    let mut sim = Sim::with_config(config_with(&[("CANOPY_SPECIES__CATALOG", catalog)]));
    let mei = sim.register("mei");
    sim.fund(&mei, 500);
    let first = protect(&mut sim, &mei, "sanjiangyuan", 3).expect("54 g");
    let tree = sim.plant(&mei, "sapling").expect("100 g");
    let last = protect(&mut sim, &mei, "sanjiangyuan", 2).expect("36 g");
    let before = sim.me(&mei).player;
    assert_eq!((before.trees, before.protected_m2), (1, 5));

    let mut restarted = sim.reload(sim.now());
    let mei = restarted.login(&mei);
    let after = restarted.me(&mei).player;
    assert_eq!(after.certificates, before.certificates);
    let ids: Vec<_> = after.certificates.iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        [
            first.certificate.id,
            tree.certificate.id,
            last.certificate.id
        ]
    );
    assert_eq!(after.certificates[1].kind, CertificateKind::Tree);
    assert_eq!((after.trees, after.protected_m2), (1, 5));
    restarted.assert_conserved();
    let audit = server_audit(&mut restarted);
    assert!(audit.balanced, "{:?}", audit.problems);
}
