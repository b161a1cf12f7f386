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
use std::sync::Arc;

/// One honest player in this many raises a cover.
const ONE_IN: usize = 4;

/// Every [`ONE_IN`]th honest player is granted a protection cover and raises it now.
/// Answers how many covers went up; the first failure, if any, goes to `notes`.
pub async fn raise(ops: &Arc<OpsClient>, honest: &mut [Seat], notes: &mut Vec<String>) -> usize {
    let mut raised = 0;
    for seat in honest.iter_mut().step_by(ONE_IN) {
        let grant = GrantProps {
            player_id: seat.player,
            prop: PropKind::ProtectionCover,
            count: 1,
        };
        let ops = ops.clone();
        let granted = blocking(move || {
            ops.post::<PropsResult>("/admin/props", Some(&grant))
                .map(|_| ())
        })
        .await;
        let used = match granted {
            Ok(()) => seat
                .call(&Request::UseProp {
                    prop: PropKind::ProtectionCover,
                })
                .await
                .map_err(|err| err.to_string())
                .and_then(|answer| answer.map_err(|refused| refused.message)),
            Err(err) => Err(err.to_string()),
        };
        match used {
            Ok(_) => raised += 1,
            Err(why) if notes.iter().all(|note| !note.starts_with("covers:")) => {
                notes.push(format!(
                    "covers: player {} raised no cover: {why}",
                    seat.player
                ));
            }
            Err(_) => {}
        }
    }
    raised
}
