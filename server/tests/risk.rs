//! The risk engine in the game: each rule's decision applied where the action is
//! applied, the review queue's release and confirm, held energy in `me` and in the
//! conservation audit, and flags that survive a restart.

mod support;

use canopy_server::config::Config;
use canopy_server::game::AdminOp;
use canopy_server::game::audit;
use canopy_shared::risk::{Decision, FlagList, FlagQuery, FlagStatus, RiskFlag};
use canopy_shared::{ErrorCode, Event, FlagId, PlayerId};
use proptest::prelude::*;
use support::{MINUTE, Player, Sim, code_of, local};

fn risky() -> Sim {
    Sim::with_config(Config::default_embedded())
}

fn flags(sim: &mut Sim, status: Option<FlagStatus>, player: Option<PlayerId>) -> Vec<RiskFlag> {
    let list: FlagList = sim
        .admin(AdminOp::RiskFlags(FlagQuery {
            status,
            player_id: player,
        }))
        .expect("listing flags works");
    list.flags
}

fn review(sim: &mut Sim, id: FlagId, to: FlagStatus) -> Result<RiskFlag, canopy_shared::ErrorBody> {
    sim.admin(AdminOp::RiskReview(id, to))
}

fn audited(sim: &mut Sim) -> canopy_shared::admin::AuditReport {
    sim.assert_conserved();
    let report = audit::audit(sim.game.world_mut()).expect("the audit runs");
    assert!(report.balanced, "{:?}", report.problems);
    report
}

/// 10,000 steps by 07:00 is an easy pace; 1,000 more a minute later is 16 a second.
fn sprint(sim: &mut Sim, player: &Player) -> support::Tick {
    sim.advance_to(local(0, 7, 0));
    let first = sim.walk(player, 10_000, "w1").expect("a plausible walk");
    assert_eq!(first.grams, 200);
    assert!(first.ball.is_some());
    sim.advance(MINUTE);
    let id = sim.submit(player.session, support::walk_request(11_000, "w2"));
    let tick = sim.tick();
    let held: canopy_shared::reply::RecordActionResult =
        tick.result(id).expect("a held walk is still accepted");
    assert_eq!(held.grams, 20);
    assert!(held.ball.is_none(), "held energy makes no ball");
    tick
}

#[test]
fn a_sprint_is_held_shown_to_the_player_and_released_to_their_balance() {
    let mut sim = risky();
    let walker = sim.register("walker");
    let tick = sprint(&mut sim, &walker);
    let hold = tick
        .events_for(walker.id)
        .into_iter()
        .find_map(|event| match event {
            Event::RiskHold {
                flag_id,
                grams,
                held,
                reason,
            } => Some((*flag_id, *grams, *held, reason.clone())),
            _ => None,
        })
        .expect("the walker hears of the hold");
    assert_eq!((hold.1, hold.2), (20, 20));
    assert!(hold.3.contains("faster than anyone walks"), "{}", hold.3);

    let me = sim.me(&walker);
    assert_eq!(me.player.held, 20);
    assert_eq!(me.player.holds.len(), 1);
    assert_eq!(me.player.holds[0].flag_id, hold.0);
    let open = flags(&mut sim, Some(FlagStatus::Open), Some(walker.id));
    assert_eq!(open.len(), 1);
    let flag = &open[0];
    assert_eq!(
        (flag.rule.as_str(), flag.decision),
        ("steps_rate", Decision::Hold)
    );
    assert_eq!(flag.evidence.numbers["steps_added"], 1_000.0);
    let report = audited(&mut sim);
    assert_eq!((report.held, report.forfeited), (20, 0));

    let before = sim.energy(walker.id);
    let released = review(&mut sim, flag.id, FlagStatus::Released).expect("release");
    assert_eq!(released.status, FlagStatus::Released);
    assert_eq!(
        sim.energy(walker.id),
        before + 20,
        "held energy goes to the balance"
    );
    assert_eq!(sim.me(&walker).player.held, 0);
    let again = review(&mut sim, flag.id, FlagStatus::Released).expect("idempotent");
    assert_eq!(again.status, FlagStatus::Released);
    assert_eq!(
        sim.energy(walker.id),
        before + 20,
        "a second release pays nothing"
    );
    assert_eq!(
        code_of(review(&mut sim, flag.id, FlagStatus::Confirmed)),
        ErrorCode::Conflict
    );
    assert_eq!(
        code_of(review(&mut sim, FlagId(999), FlagStatus::Released)),
        ErrorCode::NotFound
    );
    let report = audited(&mut sim);
    assert_eq!((report.held, report.forfeited), (0, 0));
}

#[test]
fn a_cron_job_before_six_is_held_and_confirmed_as_forfeited() {
    let mut sim = risky();
    let walker = sim.register("walker");
    sim.advance_to(local(0, 5, 0));
    let held = sim.walk(&walker, 18_001, "early").expect("accepted");
    assert_eq!(held.grams, 296);
    assert!(held.ball.is_none());
    let flag = flags(&mut sim, Some(FlagStatus::Open), None)
        .pop()
        .expect("one flag");
    assert_eq!(flag.rule, "steps_early");
    review(&mut sim, flag.id, FlagStatus::Confirmed).expect("confirm");
    review(&mut sim, flag.id, FlagStatus::Confirmed).expect("confirm is idempotent");
    assert_eq!(sim.energy(walker.id), 0);
    let report = audited(&mut sim);
    assert_eq!((report.held, report.forfeited), (0, 296));
    assert!(flags(&mut sim, Some(FlagStatus::Open), None).is_empty());
    assert_eq!(flags(&mut sim, Some(FlagStatus::Confirmed), None).len(), 1);
}

#[test]
fn just_under_the_step_thresholds_nothing_is_flagged() {
    let mut sim = risky();
    let walker = sim.register("walker");
    sim.advance_to(local(0, 5, 0));
    // 18,000 steps in five hours is a slow 1 a second and exactly the early limit.
    let walk = sim.walk(&walker, 18_000, "early").expect("accepted");
    assert!(walk.ball.is_some());
    // At 06:00 sharp (no longer early), 18,000 more in the hour since is exactly 5 a
    // second (past the day's gram cap, but the rules look at the steps).
    sim.advance_to(local(0, 6, 0));
    sim.walk(&walker, 36_000, "w2").expect("accepted");
    assert!(flags(&mut sim, None, None).is_empty());
    assert_eq!(sim.me(&walker).player.held, 0);
}

#[test]
fn a_partner_replay_past_the_cap_is_denied_through_the_partner_door() {
    let mut sim = risky();
    let rider = sim.register("rider");
    assert_eq!(sim.partner_many(rider.id, "metro", 5), vec![52; 5]);
    let err = sim
        .partner(rider.id, "metro", "metro-replay")
        .expect_err("a sixth ride is denied");
    assert_eq!(err.code, ErrorCode::RiskDenied);
    assert!(err.message.contains("metro"), "{}", err.message);
    let flag = flags(&mut sim, None, Some(rider.id)).pop().expect("a flag");
    assert_eq!(
        (flag.rule.as_str(), flag.decision),
        ("partner_velocity", Decision::Deny)
    );
    // The refused report left no receipt: the same ref is judged again, not replayed.
    assert_eq!(
        code_of(sim.partner(rider.id, "metro", "metro-replay")),
        ErrorCode::RiskDenied
    );
    assert_eq!(flags(&mut sim, None, Some(rider.id))[0].hits, 2);
    audited(&mut sim);
}

#[test]
fn switching_risk_off_turns_every_rule_off() {
    let mut sim = Sim::with_env(&[]);
    let rider = sim.register("rider");
    sim.partner_many(rider.id, "metro", 5);
    let sixth = sim.partner(rider.id, "metro", "sixth").expect("accepted");
    assert_eq!(
        sixth.grams, 0,
        "past the cap credits nothing, as without risk"
    );
    assert!(flags(&mut sim, None, None).is_empty());
}

#[test]
fn a_funnel_of_new_accounts_watering_one_player_is_held() {
    let mut sim = risky();
    let main = sim.register("main");
    let mut givers = Vec::new();
    for n in 0..9 {
        let giver = sim.register(&format!("alt{n}"));
        sim.befriend(&giver, &main);
        sim.fund(&giver, 10);
        givers.push(giver);
    }
    for giver in &givers[..8] {
        sim.water(giver, main.id, 10)
            .expect("eight givers are fine");
    }
    assert!(flags(&mut sim, None, None).is_empty());
    let balls_before = sim.me(&main).balls.len();
    sim.water(&givers[8], main.id, 10)
        .expect("the ninth is accepted");
    let me = sim.me(&main);
    assert_eq!(me.player.held, 10, "the ninth watering is held");
    assert_eq!(me.balls.len(), balls_before, "it made no ball");
    let flag = flags(&mut sim, None, Some(main.id)).pop().expect("a flag");
    assert_eq!(flag.rule, "water_funnel");
    assert_eq!(flag.evidence.players.len(), 9);
    audited(&mut sim);
}

#[test]
fn a_sniper_stealing_every_ball_as_it_ripens_is_flagged_for_review() {
    let mut sim = risky();
    let sniper = sim.register("sniper");
    let mut victims = Vec::new();
    for n in 0..4 {
        let victim = sim.register(&format!("victim{n}"));
        sim.befriend(&sniper, &victim);
        sim.partner_many(victim.id, "metro", 5);
        victims.push(victim);
    }
    sim.advance_to(local(1, 7, 0));
    let mut taken = 0;
    for victim in &victims {
        for ball in sim.me(victim).balls {
            sim.steal(&sniper, victim.id, ball.ball_id)
                .expect("a review lets the steal through");
            taken += 1;
        }
    }
    assert_eq!(taken, 20);
    let rules: Vec<String> = flags(&mut sim, Some(FlagStatus::Open), Some(sniper.id))
        .into_iter()
        .map(|flag| flag.rule)
        .collect();
    assert!(rules.contains(&"steal_reaction".to_owned()), "{rules:?}");
    assert!(rules.contains(&"steal_coverage".to_owned()), "{rules:?}");
    assert_eq!(sim.me(&sniper).player.held, 0, "review holds nothing");
    audited(&mut sim);
}

/// A thief who takes `want` of the 40 metro balls of eight friends, one after another
/// as a sweep does, with the day's steal cap at `cap` grams (each hit takes 13 g);
/// answers the rules flagged.
fn sweep(cap: u64, want: usize) -> Vec<String> {
    let mut config = Config::default_embedded();
    config.steal.min_share = 0.25;
    config.steal.max_share = 0.25;
    config.steal.daily_cap_grams = cap;
    let mut sim = Sim::with_config(config);
    let thief = sim.register("thief");
    let mut victims = Vec::new();
    for n in 0..8 {
        let victim = sim.register(&format!("victim{n}"));
        sim.befriend(&thief, &victim);
        sim.partner_many(victim.id, "metro", 5);
        victims.push(victim);
    }
    sim.advance_to(local(1, 7, 0));
    let mut taken = 0;
    'sweep: for victim in &victims {
        for ball in sim.me(victim).balls {
            if taken == want {
                break 'sweep;
            }
            match sim.steal(&thief, victim.id, ball.ball_id) {
                Ok(_) => taken += 1,
                Err(refused) => {
                    assert_eq!(refused.code, ErrorCode::LimitReached);
                    break 'sweep;
                }
            }
        }
    }
    assert_eq!(taken, 24, "24 hits of 13 g");
    audited(&mut sim);
    flags(&mut sim, Some(FlagStatus::Open), Some(thief.id))
        .into_iter()
        .map(|flag| flag.rule)
        .collect()
}

#[test]
fn steal_coverage_counts_only_the_balls_a_thief_may_still_take() {
    let stopped = sweep(1500, 24);
    assert!(
        !stopped.contains(&"steal_coverage".to_owned()),
        "24 of 40 ripe balls taken, the rest left by choice: {stopped:?}"
    );
    let capped = sweep(24 * 13, usize::MAX);
    assert!(
        capped.contains(&"steal_coverage".to_owned()),
        "24 balls taken until the daily cap, none left that it could take: {capped:?}"
    );
}

#[test]
fn flags_and_holds_survive_a_restart_and_release_after_it() {
    let mut sim = risky();
    let walker = sim.register("walker");
    sprint(&mut sim, &walker);
    let mut restarted = sim.reload(local(0, 8, 0));
    let walker = restarted.login(&walker);
    assert_eq!(restarted.me(&walker).player.held, 20);
    let flag = flags(&mut restarted, Some(FlagStatus::Open), None)
        .pop()
        .expect("the flag was durable");
    audited(&mut restarted);
    review(&mut restarted, flag.id, FlagStatus::Released).expect("release");
    audited(&mut restarted);
    let mut again = restarted.reload(local(0, 9, 0));
    assert_eq!(
        flags(&mut again, Some(FlagStatus::Released), None).len(),
        1,
        "the release was durable"
    );
    audited(&mut again);
}

/// One step of a random play: reports, transfers, time, and reviews.
#[derive(Clone, Debug)]
enum Step {
    Walk { player: usize, steps: u64 },
    Metro { player: usize },
    Water { giver: usize, receiver: usize },
    Steal { thief: usize, owner: usize },
    CollectAll { player: usize },
    Advance { minutes: u64 },
    Review { flag: u64, confirm: bool },
    Restart,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..4usize, 0..30_000u64).prop_map(|(player, steps)| Step::Walk { player, steps }),
        (0..4usize).prop_map(|player| Step::Metro { player }),
        (0..4usize, 0..4usize).prop_map(|(giver, receiver)| Step::Water { giver, receiver }),
        (0..4usize, 0..4usize).prop_map(|(thief, owner)| Step::Steal { thief, owner }),
        (0..4usize).prop_map(|player| Step::CollectAll { player }),
        (1..600u64).prop_map(|minutes| Step::Advance { minutes }),
        (1..8u64, any::<bool>()).prop_map(|(flag, confirm)| Step::Review { flag, confirm }),
        Just(Step::Restart),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever players do and reviewers decide, and across restarts, every gram is a
    /// balance, a ball, held, forfeited, planted or expired: the audit stays balanced.
    #[test]
    fn held_forfeited_and_balances_are_conserved(steps in proptest::collection::vec(step(), 1..60)) {
        let mut sim = Sim::with_env(&[
            ("CANOPY_RISK__ENABLED", "true"),
            ("CANOPY_RISK__STEPS_RATE__MAX_STEPS_PER_SECOND", "2.0"),
            ("CANOPY_RISK__WATER_FUNNEL__MAX_GIVERS", "1"),
            ("CANOPY_RISK__WATER_FUNNEL__SUSPICIOUS_SHARE", "0.5"),
            ("CANOPY_RISK__STEAL_REACTION__LAST_STEALS", "1"),
            ("CANOPY_RISK__STEAL_REACTION__DECISION", "\"hold\""),
        ]);
        let mut players: Vec<Player> = (0..4).map(|n| sim.register(&format!("p{n}"))).collect();
        for a in 0..4 {
            for b in a + 1..4 {
                let (pa, pb) = (players[a].clone(), players[b].clone());
                sim.befriend(&pa, &pb);
            }
        }
        for player in players.clone() {
            sim.fund(&player, 300);
        }
        for step in steps {
            match step {
                Step::Walk { player, steps } => {
                    let reference = sim.fresh_ref();
                    let _ = sim.walk(&players[player], steps, &reference);
                }
                Step::Metro { player } => {
                    let reference = sim.fresh_ref();
                    let _ = sim.partner(players[player].id, "metro", &reference);
                }
                Step::Water { giver, receiver } => {
                    let to = players[receiver].id;
                    let _ = sim.water(&players[giver], to, 10);
                }
                Step::Steal { thief, owner } => {
                    let owner = players[owner].clone();
                    if let Some(ball) = sim.me(&owner).balls.first().map(|b| b.ball_id) {
                        let _ = sim.steal(&players[thief], owner.id, ball);
                    }
                }
                Step::CollectAll { player } => {
                    let _ = sim.collect_all(&players[player]);
                }
                Step::Advance { minutes } => {
                    sim.advance(minutes * MINUTE);
                }
                Step::Review { flag, confirm } => {
                    let to = if confirm { FlagStatus::Confirmed } else { FlagStatus::Released };
                    let _ = review(&mut sim, FlagId(flag), to);
                }
                Step::Restart => {
                    sim = sim.reload(sim.now());
                    players = players.iter().map(|p| sim.login(p)).collect();
                }
            }
            if let Err(problem) = support::audit(&sim.game, &sim.store) {
                prop_assert!(false, "{problem}");
            }
            let report = audit::audit(sim.game.world_mut()).expect("the audit runs");
            prop_assert!(report.balanced, "{:?}", report.problems);
        }
    }
}

#[test]
fn a_graph_analysis_of_the_flows_flags_every_player_of_a_star() {
    let mut sim = Sim::with_env(&[
        ("CANOPY_RISK__ENABLED", "true"),
        ("CANOPY_RISK__WATER_FUNNEL__ENABLED", "false"),
    ]);
    let main = sim.register("main");
    let mut givers = Vec::new();
    for n in 0..12 {
        let giver = sim.register(&format!("alt{n}"));
        sim.befriend(&giver, &main);
        sim.fund(&giver, 10);
        sim.water(&giver, main.id, 10).expect("watered");
        givers.push(giver);
    }
    let settings = sim.config.risk.graph.clone();
    let (chunks, since) = sim
        .game
        .flow_sink()
        .snapshot(settings.window_secs as u64 * 1000);
    let report = canopy_server::risk_graph::analyze(&chunks, since, &settings);
    assert_eq!(report.flows, 12);
    assert_eq!(report.stars.len(), 1, "{report:?}");
    let findings = report.stars.clone();
    let answer: serde_json::Value = sim
        .admin(AdminOp::RiskGraphFindings(findings))
        .expect("the findings are applied");
    assert_eq!(answer["flagged"], 13);
    let star_flags: Vec<RiskFlag> = flags(&mut sim, Some(FlagStatus::Open), None)
        .into_iter()
        .filter(|flag| flag.rule == "new_account_star")
        .collect();
    assert_eq!(star_flags.len(), 13, "the receiver and every giver");
    assert!(
        star_flags
            .iter()
            .all(|flag| flag.decision == Decision::Review)
    );
    assert!(
        star_flags
            .iter()
            .all(|flag| flag.evidence.players.len() == 13)
    );
    audited(&mut sim);
}
