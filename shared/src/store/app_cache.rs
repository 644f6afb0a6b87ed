//! Applications cached per instance for the settings that requests without an application
//! read at hand (signup and search limits). Settings change rarely and a minute's delay in
//! a limit taking effect is harmless; a warm instance thus reads an application at most once
//! a minute instead of once per request. Logins read the application fresh anyway.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::app::App;
use crate::store::{Store, StoreError};

/// How long a cached application is trusted.
const FRESH_FOR: Duration = Duration::from_secs(60);
/// A bound on memory: an instance serving more applications than this forgets them all.
const CAPACITY: usize = 1024;

#[derive(Default)]
pub struct AppCache {
    apps: Mutex<HashMap<i64, (App, Instant)>>,
}

impl AppCache {
    pub fn remember(&self, app: &App) {
        let mut apps = self.apps.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if apps.len() >= CAPACITY {
            apps.clear();
        }
        apps.insert(app.id, (app.clone(), Instant::now()));
    }

    fn fresh(&self, id: i64) -> Option<App> {
        let apps = self.apps.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        apps.get(&id).filter(|(_, at)| at.elapsed() < FRESH_FOR).map(|(app, _)| app.clone())
    }
}

impl Store {
    /// The application `id`, from this instance's cache when read within the last minute.
    pub async fn cached_app(&self, id: i64) -> Result<Option<App>, StoreError> {
        if let Some(app) = self.apps.fresh(id) {
            return Ok(Some(app));
        }
        self.get_app(id).await
    }
}
