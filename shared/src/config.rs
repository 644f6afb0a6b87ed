//! Configuration from the environment, read once per cold start. A missing required variable
//! fails the init phase with a message naming it, not the first request.

use std::env;

#[derive(Debug, Clone)]
pub struct Config {
    /// DynamoDB table holding every item (`TABLE_NAME`).
    pub table_name: String,
    /// Alternative DynamoDB endpoint (`DYNAMODB_ENDPOINT`): local mode, DynamoDB Local.
    pub dynamodb_endpoint: Option<String>,
    /// Session activity is written at most once per this many seconds (`SESSION_REFRESH_SECS`).
    pub session_refresh_secs: i64,
    /// Ids reserved per counter round trip by each warm instance (`ID_BLOCK_SIZE`).
    pub id_block_size: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {0} must be {1}")]
    Invalid(&'static str, &'static str),
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Ok(Config {
            table_name: env::var("TABLE_NAME")
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing("TABLE_NAME"))?,
            dynamodb_endpoint: env::var("DYNAMODB_ENDPOINT").ok().filter(|v| !v.is_empty()),
            session_refresh_secs: number("SESSION_REFRESH_SECS", 60)?,
            id_block_size: number("ID_BLOCK_SIZE", 16)?,
        })
    }

    /// Settings for a given table with every default (local mode, tests).
    pub fn for_table(table_name: &str, dynamodb_endpoint: Option<String>) -> Config {
        Config { table_name: table_name.to_string(), dynamodb_endpoint, session_refresh_secs: 60, id_block_size: 16 }
    }
}

fn number(name: &'static str, default: i64) -> Result<i64, ConfigError> {
    match env::var(name) {
        Err(_) => Ok(default),
        Ok(v) if v.is_empty() => Ok(default),
        Ok(v) => v.parse().ok().filter(|n: &i64| *n > 0).ok_or(ConfigError::Invalid(name, "a positive integer")),
    }
}
