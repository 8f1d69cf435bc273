pub mod bench;
pub mod chat;
pub mod common;
pub mod generate;
pub mod info;
pub mod pull;
pub mod serve;
pub mod tokenize;
