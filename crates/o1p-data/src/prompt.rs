//! Prompt templates: the paper's system and user prompts, the fast-solving variant, and
//! rendering as raw text or through a model's chat template.

use serde::{Deserialize, Serialize};

use crate::chat::{ChatMessage, ChatTemplate};
use crate::error::{DataError, Result};

/// The paper's system prompt (used for sampling and training alike).
pub const PAPER_SYSTEM: &str = "You are a helpful assistant. You should think step-by-step and put your final answer within \\boxed{}.";

/// The paper's user prompt for sampling. The reference code drops the "Solve the problem:"
/// prefix in its training records; we keep one prompt for both so the policy is trained on
/// the prompt it was sampled with.
pub const PAPER_USER: &str = "Solve the problem: {question}";

/// Appended to the question by the paper's fast-solving prompt baseline (leading space
/// included).
pub const FAST_SOLVING_SUFFIX: &str =
    " Be confident. Solving this problem quickly with less pause, stop or reflection.";

/// The placeholder a user template must contain.
pub const QUESTION_PLACEHOLDER: &str = "{question}";

/// A system prompt and a user prompt with a `{question}` placeholder.
///
/// ```
/// use o1p_data::PromptTemplate;
/// let t = PromptTemplate::default();
/// assert_eq!(t.user_message("1+1?").unwrap(), "Solve the problem: 1+1?");
/// let fast = t.with_fast_solving(true);
/// assert!(fast.user_message("1+1?").unwrap().ends_with("less pause, stop or reflection."));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PromptTemplate {
    /// The system message; `None` sends only a user message.
    pub system: Option<String>,
    /// The user message; `{question}` is replaced by the question.
    pub user: String,
    /// Append [`FAST_SOLVING_SUFFIX`] to the question (the paper's prompt baseline).
    pub fast_solving: bool,
}

impl Default for PromptTemplate {
    /// The paper's prompt ([`PAPER_SYSTEM`], [`PAPER_USER`]), without the fast-solving suffix.
    fn default() -> Self {
        PromptTemplate {
            system: Some(PAPER_SYSTEM.to_string()),
            user: PAPER_USER.to_string(),
            fast_solving: false,
        }
    }
}

impl PromptTemplate {
    /// This template with the fast-solving suffix switched on or off.
    pub fn with_fast_solving(mut self, on: bool) -> Self {
        self.fast_solving = on;
        self
    }

    /// Checks that the user template contains [`QUESTION_PLACEHOLDER`].
    pub fn validate(&self) -> Result<()> {
        if self.user.contains(QUESTION_PLACEHOLDER) {
            Ok(())
        } else {
            Err(DataError::InvalidArgument(format!(
                "user prompt template lacks {QUESTION_PLACEHOLDER}: {:?}",
                self.user
            )))
        }
    }

    /// The user message for `question` (suffix applied when `fast_solving`).
    pub fn user_message(&self, question: &str) -> Result<String> {
        self.validate()?;
        let suffix = if self.fast_solving {
            FAST_SOLVING_SUFFIX
        } else {
            ""
        };
        Ok(self
            .user
            .replace(QUESTION_PLACEHOLDER, &format!("{question}{suffix}")))
    }

    /// The chat messages for `question`: the system message if any, then the user message.
    pub fn messages(&self, question: &str) -> Result<Vec<ChatMessage>> {
        let mut messages = Vec::with_capacity(2);
        if let Some(system) = &self.system {
            messages.push(ChatMessage::new("system", system));
        }
        messages.push(ChatMessage::new("user", self.user_message(question)?));
        Ok(messages)
    }

    /// Raw text: the system message, a blank line, then the user message; with no system
    /// message, the user message alone. Nothing is added after it, so a template can end
    /// the prompt exactly where the response should begin.
    ///
    /// ```
    /// use o1p_data::PromptTemplate;
    /// let t = PromptTemplate { system: None, user: "Q: {question}\n".into(), fast_solving: false };
    /// assert_eq!(t.render_raw("2+2?").unwrap(), "Q: 2+2?\n");
    /// ```
    pub fn render_raw(&self, question: &str) -> Result<String> {
        let user = self.user_message(question)?;
        Ok(match &self.system {
            Some(system) => format!("{system}\n\n{user}"),
            None => user,
        })
    }

    /// Renders with `renderer`: raw text or the model's chat template (with the generation
    /// prompt, so the text ends where the assistant's reply begins).
    pub fn render(&self, question: &str, renderer: &PromptRenderer) -> Result<String> {
        match renderer {
            PromptRenderer::Raw => self.render_raw(question),
            PromptRenderer::Chat(template) => template.render(&self.messages(question)?, true),
        }
    }
}

/// How prompts become text: raw, or through a chat template.
#[derive(Debug, Clone)]
pub enum PromptRenderer {
    /// [`PromptTemplate::render_raw`].
    Raw,
    /// The model's chat template.
    Chat(ChatTemplate),
}
