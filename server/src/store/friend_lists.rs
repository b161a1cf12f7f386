//! How sled keeps the friendship graph: one record per player listing the friends with a
//! higher id (so each friendship is stored once), as gaps between sorted ids. A world of
//! 10 M friendships is then 1 M small records, not 10 M keys to write and scan.

use serde::{Deserialize, Serialize};

/// The friends of one player whose ids are above the player's, sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FriendList(Vec<u64>);

/// The encoded form: the first id, then the gap to each next one (small varints).
#[derive(Serialize, Deserialize)]
struct Gaps(Vec<u64>);

impl FriendList {
    /// Decodes a stored list.
    pub fn decode(bytes: &[u8]) -> Result<Self, postcard::Error> {
        let Gaps(gaps) = postcard::from_bytes(bytes)?;
        let ids = gaps
            .iter()
            .scan(0u64, |last, gap| {
                *last += gap;
                Some(*last)
            })
            .collect();
        Ok(Self(ids))
    }

    /// Encodes the list for storing.
    pub fn encode(&self) -> Vec<u8> {
        let gaps: Vec<u64> = self
            .0
            .iter()
            .scan(0u64, |last, &id| {
                let gap = id - *last;
                *last = id;
                Some(gap)
            })
            .collect();
        postcard::to_stdvec(&Gaps(gaps)).expect("a list of integers always encodes")
    }

    /// Adds (`true`) or removes a friend.
    pub fn set(&mut self, friend: u64, active: bool) {
        match (self.0.binary_search(&friend), active) {
            (Err(at), true) => self.0.insert(at, friend),
            (Ok(at), false) => {
                self.0.remove(at);
            }
            _ => {}
        }
    }

    /// The friends, ascending.
    pub fn ids(&self) -> &[u64] {
        &self.0
    }

    /// Whether no friend is left (the record can go).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_list_survives_encoding_and_stays_sorted(ids in proptest::collection::vec(1u64..u64::MAX / 2, 0..200)) {
            let mut list = FriendList::default();
            for &id in &ids {
                list.set(id, true);
            }
            let decoded = FriendList::decode(&list.encode()).expect("decodes");
            prop_assert_eq!(&decoded, &list);
            let mut expected = ids.clone();
            expected.sort_unstable();
            expected.dedup();
            prop_assert_eq!(decoded.ids(), &expected[..]);
        }
    }

    #[test]
    fn removing_a_friend_keeps_the_others() {
        let mut list = FriendList::default();
        [9, 3, 7].into_iter().for_each(|id| list.set(id, true));
        list.set(7, false);
        list.set(8, false);
        assert_eq!(list.ids(), &[3, 9]);
    }
}
