//! The isolate's caches: a map bounded in entries, each entry with its own expiry.
//!
//! Every per-isolate cache (API keys, verified access tokens, client metadata documents, JWKS,
//! discovery documents, plans, origin assertions, imported client keys) is one of these, so
//! memory stays bounded whatever callers send, and nothing stale is served.
//!
//! Times are whatever unit the owner uses for both `now` and `expires_at` (seconds or
//! milliseconds): an entry is fresh while `now < expires_at`.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

/// A map of at most `capacity` entries that never returns an expired one. When an insert finds
/// it full, the expired entries go; if more than half the capacity is still held, the oldest
/// inserts go until half is, so a full cache costs one sweep per `capacity / 2` inserts.
#[derive(Debug)]
pub struct BoundedCache<K, V> {
    entries: HashMap<K, Entry<V>>,
    capacity: usize,
    /// Counts inserts: an entry's age, for evicting the oldest.
    inserted: u64,
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    expires_at: i64,
    seq: u64,
}

impl<K: Eq + Hash, V> BoundedCache<K, V> {
    /// An empty cache of at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Self {
        BoundedCache {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            inserted: 0,
        }
    }

    /// The value under `key`, unless it has expired by `now`.
    pub fn get<Q>(&self, key: &Q, now: i64) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.entries
            .get(key)
            .filter(|e| now < e.expires_at)
            .map(|e| &e.value)
    }

    /// [`Self::get`], to change the value in place (its expiry stays).
    pub fn get_mut<Q>(&mut self, key: &Q, now: i64) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.entries
            .get_mut(key)
            .filter(|e| now < e.expires_at)
            .map(|e| &mut e.value)
    }

    /// The value under `key` whatever its expiry, until an insert sweeps it: for an owner whose
    /// values carry their own expiry and who checks it on every use (a verified token's claims),
    /// so that a hit and a miss refuse a stale value alike.
    pub fn held<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.entries.get(key).map(|e| &e.value)
    }

    /// [`Self::held`], to change the value in place.
    pub fn held_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.entries.get_mut(key).map(|e| &mut e.value)
    }

    /// Whether a fresh value is held under `key`.
    pub fn contains<Q>(&self, key: &Q, now: i64) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.get(key, now).is_some()
    }

    /// Keeps `value` under `key` until `expires_at`, replacing what was there; makes room first
    /// when the cache is full (see [`BoundedCache`]).
    pub fn insert(&mut self, key: K, value: V, expires_at: i64, now: i64) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.make_room(now);
        }
        self.inserted += 1;
        let seq = self.inserted;
        self.entries.insert(
            key,
            Entry {
                value,
                expires_at,
                seq,
            },
        );
    }

    /// Forgets every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Entries held, expired ones included until an insert sweeps them.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn make_room(&mut self, now: i64) {
        self.entries.retain(|_, e| now < e.expires_at);
        let keep = self.capacity / 2;
        if self.entries.len() > keep {
            let mut seqs: Vec<u64> = self.entries.values().map(|e| e.seq).collect();
            let drop = seqs.len() - keep;
            // The newest `keep` inserts stay: those after the `drop`-th oldest.
            let (_, cut, _) = seqs.select_nth_unstable(drop - 1);
            let cut = *cut;
            self.entries.retain(|_, e| e.seq > cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::cases::Cases;

    /// A cache of random small capacity driven by random inserts and reads of a small key space,
    /// with a model of what was inserted last and when it expires.
    #[test]
    fn it_never_exceeds_its_capacity_never_returns_an_expired_entry_and_returns_a_fresh_insert() {
        for round in 1..200u64 {
            let mut cases = Cases::new(round);
            let capacity = 1 + cases.below(12);
            let mut cache = BoundedCache::new(capacity);
            let mut model: HashMap<u8, (u64, i64)> = HashMap::new();
            let mut now = 0i64;
            for step in 0..400u64 {
                now += cases.below(3) as i64;
                let key = cases.below(20) as u8;
                if cases.one_in(2) {
                    let expires_at = now + cases.below(10) as i64;
                    cache.insert(key, step, expires_at, now);
                    model.insert(key, (step, expires_at));
                    let fresh = now < expires_at;
                    assert_eq!(
                        cache.get(&key, now).is_some(),
                        fresh,
                        "round {round} step {step}: a fresh insert is returned"
                    );
                }
                assert!(cache.len() <= capacity, "round {round} step {step}");
                if let Some(value) = cache.get(&key, now) {
                    let (last, expires_at) = model[&key];
                    assert_eq!(*value, last, "round {round} step {step}: the last insert");
                    assert!(now < expires_at, "round {round} step {step}: expired");
                }
            }
        }
    }

    #[test]
    fn a_full_cache_drops_expired_entries_before_fresh_ones() {
        let mut cache = BoundedCache::new(4);
        cache.insert("old", 1, 10, 0);
        cache.insert("a", 2, 100, 0);
        cache.insert("b", 3, 100, 0);
        cache.insert("c", 4, 100, 0);
        cache.insert("d", 5, 100, 20);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get("d", 20), Some(&5));
        assert_eq!(cache.get("c", 20), Some(&4));
        assert_eq!(cache.get("b", 20), Some(&3));
        assert_eq!(
            cache.get("a", 20),
            None,
            "past the expired, the oldest go down to half"
        );
    }

    #[test]
    fn a_full_cache_keeps_its_newest_half() {
        let mut cache = BoundedCache::new(10);
        for i in 0..10 {
            cache.insert(i, i, 100, 0);
        }
        cache.insert(10, 10, 100, 0);
        assert_eq!(cache.len(), 6);
        for i in 0..5 {
            assert!(!cache.contains(&i, 0), "{i}");
        }
        for i in 5..=10 {
            assert!(cache.contains(&i, 0), "{i}");
        }
    }

    #[test]
    fn replacing_an_entry_in_a_full_cache_evicts_nothing() {
        let mut cache = BoundedCache::new(2);
        cache.insert("a", 1, 100, 0);
        cache.insert("b", 2, 100, 0);
        cache.insert("a", 3, 100, 0);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get("a", 0), Some(&3));
        assert_eq!(cache.get("b", 0), Some(&2));
    }

    #[test]
    fn an_entry_expires_at_its_time() {
        let mut cache = BoundedCache::new(2);
        cache.insert("a", 1, 10, 0);
        assert_eq!(cache.get("a", 9), Some(&1));
        assert_eq!(cache.get("a", 10), None);
        assert!(cache.get_mut("a", 10).is_none());
    }
}
