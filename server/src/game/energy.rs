//! A player's own energy: green actions, collecting, planting and the read ops over it.

use super::components::{ActionLog, Certificates, Wallet};
use super::resources::{Counters, Dirty, StoreHandle};
use super::risk;
use super::rules::{self, ActionCredit};
use super::state::{
    self, NewBall, config, credit_balance, debit_balance, fail, live_ball, notify, now,
    player_entity, record_flow, spawn_ball, touch_player,
};
use super::{campaigns, views};
use crate::config::Reporter;
use crate::store::{Account, Ball, Flow};
use bevy_ecs::entity::Entity;
use bevy_ecs::world::World;
use canopy_shared::model::{Certificate, CertificateKind, FeedKind, SpeciesView};
use canopy_shared::reply::{
    CollectAllResult, GramsEnergyResult, MeResult, PlantResult, RecordActionResult, SpeciesResult,
};
use canopy_shared::{BallId, CertificateId, ErrorBody, ErrorCode, Event, PlayerId};

/// The longest idempotency key.
const MAX_REF_CHARS: usize = 64;

/// A green action report, from a player's device or a partner.
pub struct ActionReport<'a> {
    /// Who earns the energy.
    pub player: PlayerId,
    /// The action kind.
    pub kind: &'a str,
    /// Steps for a step kind; 1 or absent otherwise.
    pub quantity: Option<u64>,
    /// The player's idempotency key; `None` when the caller keeps receipts of its own
    /// (a partner call is deduplicated by partner and `ref` before it gets here).
    pub reference: Option<&'a str>,
    /// Who is reporting.
    pub reporter: Reporter,
}

/// Credits a green action as a ball, once per `(player, ref)`.
pub fn record_action(
    world: &mut World,
    report: &ActionReport,
) -> Result<RecordActionResult, ErrorBody> {
    let config = config(world);
    let chars = report.reference.map(|reference| reference.chars().count());
    if chars.is_some_and(|chars| chars == 0 || chars > MAX_REF_CHARS) {
        return fail(ErrorCode::BadRequest, "`ref` has 1 to 64 characters");
    }
    let Some(rule) = config.action(report.kind) else {
        return fail(
            ErrorCode::BadRequest,
            format!("unknown action kind `{}`", report.kind),
        );
    };
    if rule.reporter == Reporter::Partner && report.reporter == Reporter::Player {
        return fail(
            ErrorCode::Forbidden,
            format!("`{}` is reported by partners, not by players", report.kind),
        );
    }
    let entity = player_entity(world, report.player)?;
    if let Some(reference) = report.reference
        && let Some(first) = receipt(world, report.player, reference)?
    {
        return Ok(first);
    }
    let now = now(world);
    let day = rules::game_day(now, config.day.utc_offset_minutes);
    let mut log = world
        .get_mut::<ActionLog>(entity)
        .expect("player has ActionLog");
    roll_usage(&mut log, day);
    let before = log.usage.get(report.kind).cloned().unwrap_or_default();
    let credit = rules::credit_action(rule, &before, report.quantity);
    if credit.is_err() && rule.counts_steps() {
        log.implausible_reports += 1;
    }
    touch_player(world, entity);
    let (grams, usage) = match credit? {
        ActionCredit::Credit { grams, usage } => (grams, usage),
        ActionCredit::Nothing { usage } => (0, usage),
    };
    let verdict = risk::check_action(
        world,
        report.player,
        report.kind,
        rule,
        &before,
        report.reporter == Reporter::Partner,
        report.quantity,
    );
    verdict.refuse_if_denied()?;
    let first_today = usage.today == 1;
    let mut log = world
        .get_mut::<ActionLog>(entity)
        .expect("player has ActionLog");
    log.usage.insert(report.kind.to_owned(), usage);
    let growing = rule
        .counts_steps()
        .then(|| log.step_balls.get(report.kind).copied())
        .flatten();
    let ball = if grams == 0 {
        None
    } else if let Some(flag) = verdict.hold() {
        risk::flags::hold(world, flag, grams, Flow::Created, Account::Mint)?;
        None
    } else {
        let ball = match growing
            .and_then(|id| live_ball(world, id).ok())
            .filter(|b| b.ripe_at > now)
        {
            Some(mut ball) => {
                ball.full += grams;
                ball.left += grams;
                state::update_ball(world, ball.clone());
                ball
            }
            None => {
                let ball = spawn_ball(
                    world,
                    NewBall {
                        owner_entity: entity,
                        owner: report.player,
                        source: report.kind.into(),
                        grams,
                        ripe_at: rules::ripe_at(now, rule, &config),
                        stealable: true,
                    },
                );
                if rule.counts_steps() {
                    let mut log = world
                        .get_mut::<ActionLog>(entity)
                        .expect("player has ActionLog");
                    log.step_balls.insert(report.kind.to_owned(), ball.id);
                }
                ball
            }
        };
        record_flow(
            world,
            Flow::Created,
            grams,
            Account::Mint,
            Account::Ball(ball.id),
        );
        let view = views::ball_view(&ball, now, &config);
        notify(world, report.player, Event::BallNew { ball: view.clone() });
        let credited = campaigns::Credited {
            player: report.player,
            entity,
            kind: report.kind,
            grams,
            ripe_at: ball.ripe_at,
            first_today,
        };
        campaigns::reward_matching(world, &credited);
        Some(view)
    };
    let result = RecordActionResult { grams, ball };
    if let Some(reference) = report.reference {
        world
            .resource_mut::<Dirty>()
            .receipts
            .insert((report.player, reference.to_owned()), result.clone());
    }
    Ok(result)
}

/// Resets daily usage on a new game day and monthly usage in a new month.
fn roll_usage(log: &mut ActionLog, day: i64) {
    if log.day == day {
        return;
    }
    let month = rules::month_key(day);
    let new_month = log.month != month;
    for usage in log.usage.values_mut() {
        usage.today = 0;
        usage.steps_today = 0;
        usage.grams_today = 0;
        if new_month {
            usage.this_month = 0;
        }
    }
    log.step_balls.clear();
    log.day = day;
    log.month = month;
}

/// The first result of a ref, from this tick or the store.
fn receipt(
    world: &World,
    player: PlayerId,
    reference: &str,
) -> Result<Option<RecordActionResult>, ErrorBody> {
    if let Some(result) = world
        .resource::<Dirty>()
        .receipts
        .get(&(player, reference.to_owned()))
    {
        return Ok(Some(result.clone()));
    }
    world
        .resource::<StoreHandle>()
        .0
        .receipt(player, reference)
        .map_err(|err| ErrorBody::new(ErrorCode::Internal, err.to_string()))
}

/// Moves all grams left in a ripe ball to a balance and ends the ball.
fn pick(world: &mut World, ball: &Ball, to: PlayerId, flow: Flow) -> u64 {
    let entity = player_entity(world, to).expect("balls belong to existing players");
    record_flow(
        world,
        flow,
        ball.left,
        Account::Ball(ball.id),
        Account::Balance(to),
    );
    state::end_ball(world, ball);
    credit_balance(world, entity, ball.left, true)
}

/// A ripe ball of `owner`, checked for `collect`-like ops.
pub fn ripe_ball_of(
    world: &World,
    owner: PlayerId,
    ball_id: BallId,
    mismatch: ErrorCode,
) -> Result<Ball, ErrorBody> {
    let ball = live_ball(world, ball_id)?;
    if ball.owner != owner {
        return fail(mismatch, format!("ball {ball_id} belongs to someone else"));
    }
    if ball.ripe_at > now(world) {
        return fail(
            ErrorCode::NotRipe,
            format!("ball {ball_id} ripens at {}", ball.ripe_at),
        );
    }
    Ok(ball)
}

/// `collect`: the owner picks one ripe ball.
pub fn collect(
    world: &mut World,
    player: PlayerId,
    ball_id: BallId,
) -> Result<GramsEnergyResult, ErrorBody> {
    let ball = ripe_ball_of(world, player, ball_id, ErrorCode::NotYours)?;
    let energy = pick(world, &ball, player, Flow::Collected);
    Ok(GramsEnergyResult {
        grams: ball.left,
        energy,
    })
}

/// `collect_all`: the owner picks every ripe ball.
pub fn collect_all(world: &mut World, player: PlayerId) -> Result<CollectAllResult, ErrorBody> {
    let entity = player_entity(world, player)?;
    let now = now(world);
    let ripe: Vec<Ball> = state::owned_balls(world, entity)
        .into_iter()
        .filter(|ball| ball.ripe_at <= now)
        .collect();
    let mut grams = 0;
    for ball in &ripe {
        pick(world, ball, player, Flow::Collected);
        grams += ball.left;
    }
    Ok(CollectAllResult {
        grams,
        energy: world
            .get::<Wallet>(entity)
            .expect("player has Wallet")
            .energy,
        balls: ripe.len() as u32,
    })
}

/// `me`: the caller's profile and unpicked balls, soonest to ripen first.
pub fn me(world: &World, player: PlayerId) -> Result<MeResult, ErrorBody> {
    let entity = player_entity(world, player)?;
    let (now, config) = (now(world), config(world));
    let mut balls = state::owned_balls(world, entity);
    balls.sort_by_key(|ball| (ball.ripe_at, ball.id));
    Ok(MeResult {
        player: views::player_view(world, entity, now, &config),
        balls: balls
            .iter()
            .map(|ball| views::ball_view(ball, now, &config))
            .collect(),
    })
}

/// `species`: the catalog, cheapest first.
pub fn species(world: &World) -> SpeciesResult {
    SpeciesResult {
        species: config(world)
            .catalog
            .iter()
            .map(|s| SpeciesView {
                id: s.id.clone(),
                name: s.name.clone(),
                name_zh: s.name_zh.clone(),
                grams: s.grams,
                region: s.region.clone(),
            })
            .collect(),
        areas: super::areas::area_views(&config(world).areas),
    }
}

/// Issues a certificate to a player and tells them.
pub fn issue_certificate(world: &mut World, player: PlayerId, certificate: Certificate) {
    let entity = player_entity(world, player).expect("certificates go to existing players");
    world
        .get_mut::<Certificates>(entity)
        .expect("player has Certificates")
        .0
        .push(certificate.clone());
    touch_player(world, entity);
    super::feed::append(
        world,
        player,
        FeedKind::Certificate,
        None,
        player,
        certificate.grams,
    );
    notify(world, player, Event::Certificate { certificate });
}

/// A new certificate for `species`, numbered.
pub fn new_certificate(world: &mut World, species: &str, team: Option<String>) -> Certificate {
    let config = config(world);
    let species = config
        .species(species)
        .expect("callers check the species exists");
    Certificate {
        id: CertificateId(Counters::take(
            &mut world.resource_mut::<Counters>().next_certificate,
        )),
        species: species.id.clone(),
        region: species.region.clone(),
        grams: species.grams,
        planted_at: now(world),
        team,
        kind: CertificateKind::Tree,
        square_metres: None,
    }
}

/// `plant`: spend a species' grams on a real tree.
pub fn plant(world: &mut World, player: PlayerId, species: &str) -> Result<PlantResult, ErrorBody> {
    let entity = player_entity(world, player)?;
    let Some(grams) = config(world).species(species).map(|s| s.grams) else {
        return fail(
            ErrorCode::NotFound,
            format!("no species `{species}` in the catalog"),
        );
    };
    buy_certificate(world, player, entity, grams, |world| {
        new_certificate(world, species, None)
    })
}

/// Spends `grams` of the player's balance (`INSUFFICIENT_ENERGY`) on the certificate
/// `make` numbers once the grams are taken, as a `Planted` flow, and issues it.
pub fn buy_certificate(
    world: &mut World,
    player: PlayerId,
    entity: Entity,
    grams: u64,
    make: impl FnOnce(&mut World) -> Certificate,
) -> Result<PlantResult, ErrorBody> {
    let energy = debit_balance(world, entity, grams)?;
    let certificate = make(world);
    record_flow(
        world,
        Flow::Planted,
        grams,
        Account::Balance(player),
        Account::Planted(certificate.id),
    );
    issue_certificate(world, player, certificate.clone());
    Ok(PlantResult {
        certificate,
        energy,
    })
}
