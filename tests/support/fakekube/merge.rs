//! JSON merge patch (RFC 7386) and the simplified server-side apply merge.

use serde_json::{Map, Value};

/// RFC 7386 §2 MergePatch(target, patch).
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target_map) = target else {
        unreachable!("made an object above")
    };
    for (k, v) in patch_map {
        if v.is_null() {
            target_map.remove(k);
        } else {
            merge_patch(target_map.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// Our simplified server-side apply: the applied configuration is merged
/// into the live object like a merge patch (maps merge key by key, lists
/// and scalars are replaced), except that a `null` in the applied
/// configuration is ignored instead of deleting. Fields the same manager
/// applied before but left out now are NOT removed (the real server tracks
/// field ownership in managedFields and would remove them).
pub fn apply_merge(live: &mut Value, applied: &Value) {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) => {
            for (k, v) in a {
                if v.is_null() {
                    continue;
                }
                match l.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        apply_merge(existing, v)
                    }
                    _ => {
                        l.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (live, applied) => *live = applied.clone(),
    }
}
