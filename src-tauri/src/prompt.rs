//! The prompt of a local turn: the system prompt and the history, counted with the model's
//! own tokenizer and chat template. Nothing is ever left out silently: when the prompt and
//! the reply budget do not fit the context window, the turn fails with `context_full` and
//! the numbers, unless the user chose to drop the oldest messages (`allow_drop_oldest`);
//! then exactly the fewest oldest messages that make it fit are left out, and the count is
//! reported with the reply.

use crate::error::{AppError, AppResult};
use crate::types::{ContextOverflow, ContextUsage, Message, Role};
use woolly_core::chat::ChatMessage;
use woolly_core::engine::{Engine, Prompt};

/// The prompt to send, with its size and how many of the oldest messages were left out.
#[derive(Debug, Clone)]
pub struct BuiltPrompt {
    pub messages: Vec<ChatMessage>,
    pub prompt_tokens: u32,
    /// Oldest (non-empty) history messages left out; 0 unless `allow_drop_oldest`.
    pub dropped: u32,
}

/// Tokens kept free for the reply: the reply's `max_tokens`, at most a quarter of the
/// window, at least one.
pub fn reply_reserve(ctx: u32, max_tokens: u32) -> u32 {
    max_tokens.min(ctx / 4).max(1)
}

/// The chat messages for a system prompt and a history (empty messages skipped).
pub fn chat_messages(system_prompt: &str, history: &[&Message]) -> Vec<ChatMessage> {
    let mut messages = Vec::with_capacity(history.len() + 1);
    if !system_prompt.trim().is_empty() {
        messages.push(ChatMessage::system(system_prompt));
    }
    for m in history {
        messages.push(match m.role {
            Role::User => ChatMessage::user(m.content.as_str()),
            Role::Assistant => ChatMessage::assistant(m.content.as_str()),
        });
    }
    messages
}

/// Tokens of a chat as the engine would feed it (template applied).
pub fn count(engine: &Engine, messages: &[ChatMessage]) -> AppResult<u32> {
    Ok(engine
        .prompt_tokens(&Prompt::Chat(messages.to_vec()))?
        .len() as u32)
}

/// What the context meter shows: the whole conversation, plus the draft as the next user
/// message when it is not blank, counted as a prompt.
pub fn usage(
    engine: &Engine,
    system_prompt: &str,
    history: &[Message],
    draft: &str,
    ctx: u32,
    max_tokens: u32,
) -> AppResult<ContextUsage> {
    let history: Vec<&Message> = history.iter().filter(|m| !m.content.is_empty()).collect();
    let mut messages = chat_messages(system_prompt, &history);
    if !draft.trim().is_empty() {
        messages.push(ChatMessage::user(draft));
    }
    let prompt_tokens = if messages.is_empty() {
        0
    } else {
        count(engine, &messages)?
    };
    Ok(ContextUsage {
        prompt_tokens,
        reply_reserve: reply_reserve(ctx, max_tokens),
        context_length: ctx,
        ..Default::default()
    })
}

/// The prompt for `history` in a window of `ctx` tokens (see the module's doc).
pub fn build_prompt(
    engine: &Engine,
    system_prompt: &str,
    history: &[Message],
    ctx: u32,
    max_tokens: u32,
    allow_drop_oldest: bool,
) -> AppResult<BuiltPrompt> {
    fit(
        |m| count(engine, m),
        system_prompt,
        history,
        ctx,
        max_tokens,
        allow_drop_oldest,
    )
}

/// [`build_prompt`] with any token counter.
pub fn fit(
    count: impl Fn(&[ChatMessage]) -> AppResult<u32>,
    system_prompt: &str,
    history: &[Message],
    ctx: u32,
    max_tokens: u32,
    allow_drop_oldest: bool,
) -> AppResult<BuiltPrompt> {
    let history: Vec<&Message> = history.iter().filter(|m| !m.content.is_empty()).collect();
    if history.is_empty() {
        return Err(AppError::invalid("There is no message to answer."));
    }
    let reserve = reply_reserve(ctx, max_tokens);
    let fits = |n: u32| n as u64 + reserve as u64 <= ctx as u64;
    let from = |start: usize| -> AppResult<(Vec<ChatMessage>, u32)> {
        let messages = chat_messages(system_prompt, &history[start..]);
        let n = count(&messages)?;
        Ok((messages, n))
    };
    let (messages, full) = from(0)?;
    if fits(full) {
        return Ok(BuiltPrompt {
            messages,
            prompt_tokens: full,
            dropped: 0,
        });
    }
    // Where the prompt may start: at a user message (a question stays with its answer), or
    // at the last message, which always stays. Fewer messages never take more tokens, so
    // the first start that fits is found by bisection.
    let starts: Vec<usize> = (1..history.len())
        .filter(|&i| history[i].role == Role::User || i + 1 == history.len())
        .collect();
    let (mut lo, mut hi) = (0, starts.len());
    let mut best = None;
    while lo < hi {
        let mid = (lo + hi) / 2;
        let (messages, n) = from(starts[mid])?;
        if fits(n) {
            best = Some((starts[mid], messages, n));
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    match best {
        Some((start, messages, n)) if allow_drop_oldest => Ok(BuiltPrompt {
            messages,
            prompt_tokens: n,
            dropped: start as u32,
        }),
        best => Err(AppError::context_full(ContextOverflow {
            prompt_tokens: full,
            reply_reserve: reserve,
            tokens_needed: full.saturating_add(reserve),
            context_length: ctx,
            drop_messages: best.map(|(start, ..)| start as u32),
            attachments: Vec::new(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn msg(role: Role, content: &str) -> Message {
        Message {
            id: String::new(),
            conversation_id: String::new(),
            role,
            content: content.into(),
            created_at: 0,
            stats: None,
            model_id: None,
            parent_id: None,
            version: 1,
            versions: 1,
        }
    }

    /// One token per character of content, plus 2 per message.
    fn chars(m: &[ChatMessage]) -> AppResult<u32> {
        Ok(m.iter().map(|m| m.content.chars().count() as u32 + 2).sum())
    }

    fn history() -> Vec<Message> {
        // 12 tokens per message (10 chars + 2).
        (0..6)
            .map(|i| {
                let role = if i % 2 == 0 {
                    Role::User
                } else {
                    Role::Assistant
                };
                msg(role, &format!("message {i}{i}"))
            })
            .collect()
    }

    #[test]
    fn fits_untouched() {
        let p = fit(chars, "", &history(), 100, 10, false).unwrap();
        assert_eq!((p.messages.len(), p.prompt_tokens, p.dropped), (6, 72, 0));
    }

    #[test]
    fn refuses_with_the_numbers() {
        // 72 tokens + reserve 10 > 80; 48 + 10 <= 80 after dropping one question and answer.
        let e = fit(chars, "", &history(), 80, 10, false).unwrap_err();
        assert_eq!(e.code, ErrorCode::ContextFull);
        let o = e.context.unwrap();
        assert_eq!(
            (o.prompt_tokens, o.reply_reserve, o.tokens_needed),
            (72, 10, 82)
        );
        assert_eq!((o.context_length, o.drop_messages), (80, Some(2)));
        assert!(e.message.contains("2 oldest messages"), "{}", e.message);
    }

    #[test]
    fn drops_exactly_what_is_needed_when_allowed() {
        for (ctx, dropped) in [(82, 0), (81, 2), (58, 2), (57, 4), (34, 4)] {
            let p = fit(chars, "", &history(), ctx, 10, true).unwrap();
            assert_eq!(p.dropped, dropped, "ctx {ctx}");
            assert_eq!(p.messages.len(), 6 - dropped as usize);
            assert_eq!(p.messages[0].content, format!("message {dropped}{dropped}"));
        }
        // Reserve 3: the last message alone needs 15.
        let e = fit(chars, "", &history(), 14, 10, true).unwrap_err();
        assert_eq!(e.code, ErrorCode::ContextFull);
        assert_eq!(e.context.unwrap().drop_messages, None);
    }

    #[test]
    fn the_last_message_alone_is_a_start() {
        // A question answered twice in a row (the last message is an assistant's): the
        // last message may still stand alone.
        let h = vec![
            msg(Role::User, "aaaaaaaaaa"),
            msg(Role::Assistant, "bbbbbbbbbb"),
            msg(Role::Assistant, "cccccccccc"),
        ];
        let p = fit(chars, "", &h, 24, 10, true).unwrap();
        assert_eq!(p.dropped, 2);
        let e = fit(chars, "sys", &h, 20, 10, true).unwrap_err();
        assert_eq!(e.context.unwrap().drop_messages, None);
    }
}
