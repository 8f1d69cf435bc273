//! Special tokens: which ones end generation, and splitting their text out of input
//! before pre-tokenization (llama.cpp's `tokenizer_st_partition`).

use super::{TokenType, Vocab};

/// Texts llama.cpp recognises as end-of-turn / end-of-generation / fill-in-middle tokens.
const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
];
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "<|end_of_text|>",
    "<end_of_utterance>",
];
const EOM_TEXTS: &[&str] = &["<|eom_id|>"];
const FIM_PRE_TEXTS: &[&str] = &[
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<fim_prefix>",
    "<｜fim▁begin｜>",
    "<PRE>",
    "▁<PRE>",
    "<|code_prefix|>",
];
const FIM_SUF_TEXTS: &[&str] = &[
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<｜fim▁hole｜>",
    "<SUF>",
    "▁<SUF>",
    "<|code_suffix|>",
];
const FIM_MID_TEXTS: &[&str] = &[
    "<|fim_middle|>",
    "<fim-middle>",
    "<fim_middle>",
    "<｜fim▁end｜>",
    "<MID>",
    "▁<MID>",
    "<|code_middle|>",
];
const FIM_PAD_TEXTS: &[&str] = &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>"];
const FIM_REP_TEXTS: &[&str] = &[
    "<|fim_repo|>",
    "<|repo_name|>",
    "<fim-repo>",
    "<REPO>",
    "<reponame>",
];
const FIM_SEP_TEXTS: &[&str] = &["<|file_sep|>"];

/// Finds EOT and the end-of-generation set the way llama.cpp does: from metadata ids, else
/// by token text; such tokens are forced to be control tokens. Returns (eot, sorted eog).
pub(super) fn detect(
    v: &Vocab,
    eos: Option<u32>,
    token_to_id: &super::TokenIndex,
    types: &mut [TokenType],
) -> (Option<u32>, Vec<u32>) {
    let n = types.len();
    let mut find = |given: Option<u32>, texts: &[&str]| -> Option<u32> {
        if let Some(id) = given.filter(|&i| (i as usize) < n) {
            return Some(id);
        }
        let id = texts.iter().find_map(|t| token_to_id.get(t).copied())?;
        types[id as usize] = TokenType::Control;
        Some(id)
    };
    let eot = find(v.eot, EOT_TEXTS);
    let eom = find(v.eom, EOM_TEXTS);
    find(v.fim_pre, FIM_PRE_TEXTS);
    find(v.fim_suf, FIM_SUF_TEXTS);
    find(v.fim_mid, FIM_MID_TEXTS);
    let fim_pad = find(v.fim_pad, FIM_PAD_TEXTS);
    let fim_rep = find(v.fim_rep, FIM_REP_TEXTS);
    let fim_sep = find(v.fim_sep, FIM_SEP_TEXTS);

    let mut eog: Vec<u32> = [fim_pad, fim_rep, fim_sep, eos, eot, eom]
        .into_iter()
        .flatten()
        .collect();
    for text in EOG_TEXTS {
        if let Some(&id) = token_to_id.get(text) {
            types[id as usize] = TokenType::Control;
            eog.push(id);
        }
    }
    // gpt-oss (harmony) markup is always rendered; there `<|end|>` ends a message, not
    // the generation.
    for text in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
        if let Some(&id) = token_to_id.get(text) {
            types[id as usize] = TokenType::UserDefined;
        }
    }
    let in_eog = |eog: &[u32], t: &str| token_to_id.get(t).is_some_and(|id| eog.contains(id));
    if in_eog(&eog, "<|return|>") && in_eog(&eog, "<|call|>") && in_eog(&eog, "<|end|>") {
        if let Some(&end) = token_to_id.get("<|end|>") {
            eog.retain(|&id| id != end);
            types[end as usize] = TokenType::UserDefined;
        }
    }
    eog.sort_unstable();
    eog.dedup();
    (eot, eog)
}

/// Special tokens, longest text first: the order in which they are split out of text.
pub(super) fn split_order(tokens: &[String], types: &[TokenType]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..types.len() as u32)
        .filter(|&i| types[i as usize].is_special())
        .collect();
    order.sort_by_key(|&i| std::cmp::Reverse(tokens[i as usize].len()));
    order
}

pub(super) enum Fragment<'a> {
    Text(&'a str),
    Token(u32),
}

/// Splits special-token text out of `text`, one special token at a time in `order` (so a
/// longer token wins over a shorter one it contains). Without `parse_special` only
/// user-defined tokens are split out, as in llama.cpp.
pub(super) fn partition<'a>(
    text: &'a str,
    parse_special: bool,
    order: &[u32],
    tokens: &[String],
    types: &[TokenType],
) -> Vec<Fragment<'a>> {
    let mut frags = vec![Fragment::Text(text)];
    for &id in order {
        if !parse_special && types[id as usize] != TokenType::UserDefined {
            continue;
        }
        let needle = tokens[id as usize].as_str();
        if !frags
            .iter()
            .any(|f| matches!(f, Fragment::Text(t) if t.contains(needle)))
        {
            continue;
        }
        let mut next = Vec::with_capacity(frags.len() + 2);
        for frag in frags {
            let Fragment::Text(t) = frag else {
                next.push(frag);
                continue;
            };
            let mut last = 0;
            for (at, _) in t.match_indices(needle) {
                if at > last {
                    next.push(Fragment::Text(&t[last..at]));
                }
                next.push(Fragment::Token(id));
                last = at + needle.len();
            }
            if last < t.len() {
                next.push(Fragment::Text(&t[last..]));
            }
        }
        frags = next;
    }
    frags
}
