//! The owners' side of a sniper's camp: some honest players raise a protection cover
//! (bought or granted, as people do after being stolen from), so the snipers find
//! covers ending near a ripening and camp on their ends too, as Sesame's
//! `EnergyWaitingManager` does.

use super::replay::blocking;
use crate::admin::OpsClient;
use crate::bots::setup::Seat;
use canopy_shared::Request;
use canopy_shared::admin::GrantProps;
use canopy_shared::model::PropKind;
use canopy_shared::reply::PropsResult;
use futures_util::{StreamExt, stream};
use std::sync::Arc;

/// One honest player in this many raises a cover.
const ONE_IN: usize = 4;

/// Every [`ONE_IN`]th honest player is granted a protection cover and raises it now,
/// a few at a time. Answers how many covers went up; the first failure, if any, goes
/// to `notes`.
pub async fn raise(ops: &Arc<OpsClient>, honest: &mut [Seat], notes: &mut Vec<String>) -> usize {
    let outcomes: Vec<Result<(), String>> = stream::iter(honest.iter_mut().step_by(ONE_IN))
        .map(|seat| cover(ops, seat))
        .buffer_unordered(16)
        .collect()
        .await;
    let mut raised = 0;
    for outcome in outcomes {
        match outcome {
            Ok(()) => raised += 1,
            Err(why) if notes.iter().all(|note| !note.starts_with("covers:")) => {
                notes.push(format!("covers: {why}"));
            }
            Err(_) => {}
        }
    }
    raised
}

/// Grants `seat`'s player a protection cover and has them raise it.
async fn cover(ops: &Arc<OpsClient>, seat: &mut Seat) -> Result<(), String> {
    let grant = GrantProps {
        player_id: seat.player,
        prop: PropKind::ProtectionCover,
        count: 1,
    };
    let ops = ops.clone();
    blocking(move || {
        ops.post::<PropsResult>("/admin/props", Some(&grant))
            .map(|_| ())
    })
    .await
    .map_err(|err| format!("player {} was granted no cover: {err}", seat.player))?;
    let raised = seat
        .call(&Request::UseProp {
            prop: PropKind::ProtectionCover,
        })
        .await;
    match raised {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(refused)) => Err(format!(
            "player {} raised no cover: {}",
            seat.player, refused.message
        )),
        Err(err) => Err(format!("player {} raised no cover: {err}", seat.player)),
    }
}
