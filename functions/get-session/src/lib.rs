//! `GET /session`: the caller's session and its user (contract §3.4).

use shared::{ApiRequest, ApiResponse, Deps};

pub const FUNCTION: &str = "get-session";

pub async fn handle(deps: &Deps, mut req: ApiRequest) -> ApiResponse {
    let result = match shared::routes::route_for(&req, FUNCTION) {
        Ok(_) => shared::service::sessions::get_session(deps, &mut req).await,
        Err(error) => Err(error),
    };
    req.respond(result)
}
