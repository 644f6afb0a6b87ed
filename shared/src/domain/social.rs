//! An application's own Facebook and Twitter apps: the credentials that Facebook and Twitter
//! sign-ins are checked with, and who those networks say a user is.

use std::fmt;

/// The Facebook app whose user access tokens may sign users in.
#[derive(Clone, PartialEq, Eq)]
pub struct FacebookApp {
    pub app_id: String,
    /// Used for the app access token and `appsecret_proof`; never logged or shown.
    pub app_secret: String,
}

/// The Twitter app (OAuth 1.0a consumer) whose user tokens may sign users in.
#[derive(Clone, PartialEq, Eq)]
pub struct TwitterApp {
    pub consumer_key: String,
    /// Half of every request signature; never logged or shown.
    pub consumer_secret: String,
}

impl fmt::Debug for FacebookApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FacebookApp").field("app_id", &self.app_id).field("app_secret", &"<redacted>").finish()
    }
}

impl fmt::Debug for TwitterApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwitterApp")
            .field("consumer_key", &self.consumer_key)
            .field("consumer_secret", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Facebook,
    Twitter,
}

impl Network {
    pub fn name(self) -> &'static str {
        match self {
            Network::Facebook => "facebook",
            Network::Twitter => "twitter",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Network::Facebook => "Facebook",
            Network::Twitter => "Twitter",
        }
    }
}

/// Who a network says the token's owner is, once it has vouched for the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocialIdentity {
    pub network: Network,
    /// The network's user id (Facebook's app-scoped id, Twitter's `id_str`).
    pub id: String,
    pub name: Option<String>,
    /// Only what the network returned; never used to match an existing user.
    pub email: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let facebook = FacebookApp { app_id: "123".into(), app_secret: "fb-secret-value".into() };
        let twitter = TwitterApp { consumer_key: "ck".into(), consumer_secret: "tw-secret-value".into() };
        let shown = format!("{facebook:?} {twitter:?}");
        assert!(shown.contains("123") && shown.contains("ck"), "{shown}");
        assert!(!shown.contains("fb-secret-value") && !shown.contains("tw-secret-value"), "{shown}");
    }
}
