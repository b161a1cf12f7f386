//! The admin audit finds a gram that appears or disappears outside the ledger.

use canopy_server::config::Config;
use canopy_server::game::components::Wallet;
use canopy_server::game::{AdminOp, ClockMode, Command, Game, Op, Origin, Reply, SessionId, audit};
use canopy_server::store::MemoryStore;
use canopy_shared::admin::PartnerAction;
use canopy_shared::{PlayerId, Request};
use std::sync::Arc;

#[test]
fn the_audit_balances_a_played_world_and_catches_a_tampered_wallet() {
    let store = Arc::new(MemoryStore::new());
    let config = Arc::new(Config::default_embedded());
    let mut game = Game::load(
        config,
        store,
        ClockMode::Manual,
        Some(1_795_536_000_000),
        Some(3),
    )
    .expect("load");
    game.connect(SessionId(1));
    game.submit(Command {
        origin: Origin::Session(SessionId(1)),
        request_id: 1,
        op: Op::Client(Request::Register {
            name: "alice".into(),
        }),
    });
    game.tick();
    game.submit(Command {
        origin: Origin::Admin(1),
        request_id: 0,
        op: Op::Admin(AdminOp::PartnerAction(PartnerAction {
            player_id: PlayerId(1),
            kind: "metro".into(),
            quantity: None,
            reference: "m".into(),
        })),
    });
    let outcome = game.tick();
    assert!(matches!(
        &outcome.replies[0],
        Reply::Admin { result: Ok(_), .. }
    ));

    let report = audit::audit(game.world_mut()).expect("audit");
    assert!(report.balanced, "{report:?}");
    assert_eq!(
        (report.created, report.in_balls, report.ledger_entries),
        (52, 52, 1)
    );

    let world = game.world_mut();
    let mut wallets = world.query::<&mut Wallet>();
    for mut wallet in wallets.iter_mut(world) {
        wallet.energy += 5;
    }
    let report = audit::audit(game.world_mut()).expect("audit");
    assert!(!report.balanced);
    assert_eq!(
        report.problems.len(),
        2,
        "the player's ledger and the total: {:?}",
        report.problems
    );
}
