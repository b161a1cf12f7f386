//! Protected areas (保护地): besides trees, the catalog lists areas protected with
//! energy by the square metre. `protect_area` spends `square metres × grams_per_m2`
//! of the balance (the `Planted` flow, as a tree: balance → the certificate) for an
//! `area` certificate; `me` and the boards count trees and square metres.

use super::components::Certificates;
use super::energy::buy_certificate;
use super::resources::{Counters, Dirty};
use super::state::{config, fail, now, player_entity};
use crate::config::Area;
use bevy_ecs::entity::Entity;
use bevy_ecs::world::World;
use canopy_shared::model::{AreaView, Certificate, CertificateKind};
use canopy_shared::reply::PlantResult;
use canopy_shared::{CertificateId, ErrorBody, ErrorCode, PlayerId};

/// What a player's certificates add up to: trees planted and square metres protected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Holdings {
    /// `tree` certificates.
    pub trees: u64,
    /// Square metres over the `area` certificates.
    pub protected_m2: u64,
}

/// Counts trees and square metres over `certificates`.
pub fn holdings(certificates: &[Certificate]) -> Holdings {
    certificates
        .iter()
        .fold(Holdings::default(), |mut sum, certificate| {
            match certificate.kind {
                CertificateKind::Tree => sum.trees += 1,
                CertificateKind::Area => {
                    sum.protected_m2 += certificate.square_metres.unwrap_or(0);
                }
            }
            sum
        })
}

/// A player's holdings.
pub fn holdings_of(world: &World, entity: Entity) -> Holdings {
    world
        .get::<Certificates>(entity)
        .map(|certificates| holdings(&certificates.0))
        .unwrap_or_default()
}

/// The catalog's areas, cheapest per square metre first.
pub fn area_views(areas: &[Area]) -> Vec<AreaView> {
    areas
        .iter()
        .map(|area| AreaView {
            id: area.id.clone(),
            name: area.name.clone(),
            name_zh: area.name_zh.clone(),
            region: area.region.clone(),
            grams_per_m2: area.grams_per_m2,
            max_square_metres: area.max_square_metres,
        })
        .collect()
}

/// The grams `square_metres` of `area` cost, or why they cannot be bought:
/// `BAD_REQUEST` outside 1 to the area's maximum.
pub fn price(area: &Area, square_metres: u64) -> Result<u64, ErrorBody> {
    if !(1..=area.max_square_metres).contains(&square_metres) {
        return fail(
            ErrorCode::BadRequest,
            format!(
                "`square_metres` must be 1 to {} for `{}`",
                area.max_square_metres, area.id
            ),
        );
    }
    Ok(square_metres.saturating_mul(area.grams_per_m2))
}

/// `protect_area`: spend energy on square metres of a protected area.
pub fn protect_area(
    world: &mut World,
    player: PlayerId,
    area_id: &str,
    square_metres: u64,
) -> Result<PlantResult, ErrorBody> {
    if square_metres == 0 {
        return fail(ErrorCode::BadRequest, "`square_metres` must be at least 1");
    }
    let entity = player_entity(world, player)?;
    let config = config(world);
    let Some(area) = config.area(area_id) else {
        return fail(
            ErrorCode::NotFound,
            format!("no protected area `{area_id}` in the catalog"),
        );
    };
    let grams = price(area, square_metres)?;
    let protected = buy_certificate(world, player, entity, grams, |world| Certificate {
        id: CertificateId(Counters::take(
            &mut world.resource_mut::<Counters>().next_certificate,
        )),
        species: area.id.clone(),
        region: area.region.clone(),
        grams,
        planted_at: now(world),
        team: None,
        kind: CertificateKind::Area,
        square_metres: Some(square_metres),
    })?;
    world.resource_mut::<Dirty>().areas.insert(entity);
    Ok(protected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(max: u64) -> Area {
        Area {
            id: "sanjiangyuan".into(),
            name: "Sanjiangyuan".into(),
            name_zh: "三江源".into(),
            region: "Qinghai".into(),
            grams_per_m2: 18,
            max_square_metres: max,
            verified: false,
        }
    }

    fn certificate(kind: CertificateKind, square_metres: Option<u64>) -> Certificate {
        Certificate {
            id: CertificateId(1),
            species: "x".into(),
            region: "y".into(),
            grams: 1,
            planted_at: 0,
            team: None,
            kind,
            square_metres,
        }
    }

    #[test]
    fn square_metres_cost_their_price_within_the_area_maximum() {
        assert_eq!(price(&area(100), 1).map_err(|e| e.code), Ok(18));
        assert_eq!(price(&area(100), 100).map_err(|e| e.code), Ok(1_800));
        assert_eq!(
            price(&area(100), 101).map_err(|e| e.code),
            Err(ErrorCode::BadRequest)
        );
        assert_eq!(
            price(&area(100), 0).map_err(|e| e.code),
            Err(ErrorCode::BadRequest)
        );
    }

    #[test]
    fn holdings_count_trees_and_sum_square_metres() {
        let certificates = [
            certificate(CertificateKind::Tree, None),
            certificate(CertificateKind::Area, Some(3)),
            certificate(CertificateKind::Tree, None),
            certificate(CertificateKind::Area, Some(40)),
        ];
        assert_eq!(
            holdings(&certificates),
            Holdings {
                trees: 2,
                protected_m2: 43
            }
        );
        assert_eq!(holdings(&[]), Holdings::default());
    }
}
