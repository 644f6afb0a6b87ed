//! One router for every function's handler: what `cube-auth serve` mounts and what the flow
//! tests call. It dispatches on the same route table the functions check themselves against.

use shared::{ApiRequest, ApiResponse, Deps};

/// Serves one request with the handler of the function that owns its route. Each handler's
/// future is boxed: inline, the largest of them would size this one, and deep async stacks
/// overflow small thread stacks.
pub async fn dispatch(deps: &Deps, req: ApiRequest) -> ApiResponse {
    if req.method() == "OPTIONS" {
        return ApiResponse::preflight();
    }
    let route = match shared::routes::resolve(req.method(), req.segments()) {
        Ok(route) => route,
        Err(error) => return req.respond(Err(error)),
    };
    match route.function {
        create_session::FUNCTION => Box::pin(create_session::handle(deps, req)).await,
        get_session::FUNCTION => Box::pin(get_session::handle(deps, req)).await,
        destroy_session::FUNCTION => Box::pin(destroy_session::handle(deps, req)).await,
        login::FUNCTION => Box::pin(login::handle(deps, req)).await,
        logout::FUNCTION => Box::pin(logout::handle(deps, req)).await,
        signup::FUNCTION => Box::pin(signup::handle(deps, req)).await,
        update_user::FUNCTION => Box::pin(update_user::handle(deps, req)).await,
        delete_user::FUNCTION => Box::pin(delete_user::handle(deps, req)).await,
        list_users_v2::FUNCTION => Box::pin(list_users_v2::handle(deps, req)).await,
        users_v1::FUNCTION => Box::pin(users_v1::handle(deps, req)).await,
        create_blob::FUNCTION => Box::pin(create_blob::handle(deps, req)).await,
        complete_blob::FUNCTION => Box::pin(complete_blob::handle(deps, req)).await,
        get_blob::FUNCTION => Box::pin(get_blob::handle(deps, req)).await,
        delete_blob::FUNCTION => Box::pin(delete_blob::handle(deps, req)).await,
        reset_password::FUNCTION => Box::pin(reset_password::handle(deps, req)).await,
        reset_page::FUNCTION => Box::pin(reset_page::handle(deps, req)).await,
        _ => req.respond(Err(shared::ApiError::NoRoute)),
    }
}

/// The functions this router can dispatch to (checked against the route table in tests).
pub const FUNCTIONS: &[&str] = &[
    create_session::FUNCTION,
    get_session::FUNCTION,
    destroy_session::FUNCTION,
    login::FUNCTION,
    logout::FUNCTION,
    signup::FUNCTION,
    update_user::FUNCTION,
    delete_user::FUNCTION,
    list_users_v2::FUNCTION,
    users_v1::FUNCTION,
    create_blob::FUNCTION,
    complete_blob::FUNCTION,
    get_blob::FUNCTION,
    delete_blob::FUNCTION,
    reset_password::FUNCTION,
    reset_page::FUNCTION,
];
