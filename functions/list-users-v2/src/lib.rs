//! `GET /users/v2`: search users with filters and operators, from indexes only (contract §6.7).

use shared::{ApiRequest, ApiResponse, Deps};

pub const FUNCTION: &str = "list-users-v2";

pub async fn handle(deps: &Deps, mut req: ApiRequest) -> ApiResponse {
    let result = match shared::routes::route_for(&req, FUNCTION) {
        Ok(_) => shared::service::search::search_users(deps, &mut req).await,
        Err(error) => Err(error),
    };
    req.respond(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fixtures_in_events_produce_their_expected_responses() {
        testkit::fixtures::check_handler(FUNCTION, |deps, req| async move { handle(&deps, req).await }).await;
    }
}
