//! The message tree of an exported conversation, checked before anything is written.

use super::ExportedConversation;
use std::collections::{HashMap, HashSet};

/// Brings a conversation read from a file of `version` to the version 2 shape, or says
/// why it cannot be imported. Version 1 (one linear thread, no ids): each message follows
/// the one before it. Version 2: ids must be present and unique, each `parentId` must name
/// a message of the same conversation, the links must not form a cycle, and `currentId`
/// must name a message (null: the newest). Messages come back parents first (siblings in
/// the file's order, which is their version order), `currentId` set when there are any.
pub fn normalize(c: &mut ExportedConversation, version: u32) -> Result<(), String> {
    if version < 2 {
        let mut previous: Option<String> = None;
        for (i, m) in c.messages.iter_mut().enumerate() {
            let id = format!("m{}", i + 1);
            m.id = Some(id.clone());
            m.parent_id = previous.replace(id);
        }
        c.current_id = previous;
        return Ok(());
    }
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, m) in c.messages.iter().enumerate() {
        let id =
            m.id.as_deref()
                .filter(|id| !id.is_empty())
                .ok_or_else(|| format!("message {} has no \"id\"", i + 1))?;
        if index.insert(id, i).is_some() {
            return Err(format!("two messages have the id \"{id}\""));
        }
    }
    let parents = c
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| match m.parent_id.as_deref() {
            None => Ok(None),
            Some(p) => index.get(p).copied().map(Some).ok_or_else(|| {
                format!(
                    "message {} follows \"{p}\", which is not in the file",
                    i + 1
                )
            }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let depths = depths(&parents)?;
    if let Some(current) = c.current_id.as_deref() {
        if !index.contains_key(current) {
            return Err(format!(
                "its \"currentId\" \"{current}\" is not one of its messages"
            ));
        }
    }
    if c.current_id.is_none() {
        c.current_id = c.messages.last().and_then(|m| m.id.clone());
    }
    // Parents first. Woolly writes them so (oldest first), and that order is kept: it is
    // the creation order the "newest leaf" of a branch is found by. A file listing a child
    // first is reordered by depth (stable, so siblings keep their order).
    if parents
        .iter()
        .enumerate()
        .any(|(i, p)| p.is_some_and(|p| p > i))
    {
        let mut order: Vec<usize> = (0..c.messages.len()).collect();
        order.sort_by_key(|&i| depths[i]);
        let mut slots: Vec<_> = std::mem::take(&mut c.messages)
            .into_iter()
            .map(Some)
            .collect();
        c.messages = order.into_iter().filter_map(|i| slots[i].take()).collect();
    }
    Ok(())
}

/// Each message's distance from its root; an error when the links loop.
fn depths(parents: &[Option<usize>]) -> Result<Vec<usize>, String> {
    let mut depth: Vec<Option<usize>> = vec![None; parents.len()];
    for start in 0..parents.len() {
        // Walk up to a root or a message already measured, then measure the way back.
        let mut chain = Vec::new();
        let mut seen = HashSet::new();
        let mut at = Some(start);
        let base = loop {
            match at {
                None => break 0,
                Some(i) => {
                    if let Some(d) = depth[i] {
                        break d + 1;
                    }
                    if !seen.insert(i) {
                        return Err(format!(
                            "its messages' \"parentId\" links form a cycle (message {})",
                            i + 1
                        ));
                    }
                    chain.push(i);
                    at = parents[i];
                }
            }
        };
        for (k, &i) in chain.iter().rev().enumerate() {
            depth[i] = Some(base + k);
        }
    }
    Ok(depth.into_iter().map(|d| d.unwrap_or(0)).collect())
}

#[cfg(test)]
mod tests {
    use super::depths;

    #[test]
    fn depths_and_cycles() {
        assert_eq!(
            depths(&[None, Some(0), Some(1), Some(0)]),
            Ok(vec![0, 1, 2, 1])
        );
        assert_eq!(depths(&[Some(2), None, Some(1)]), Ok(vec![2, 0, 1]));
        assert!(depths(&[Some(1), Some(0)]).unwrap_err().contains("cycle"));
        assert!(depths(&[Some(0)]).unwrap_err().contains("cycle"));
        assert!(depths(&[None, Some(2), Some(3), Some(1)]).is_err());
    }
}
