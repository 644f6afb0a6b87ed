//! One router for every function's handler: what `cube-auth serve` mounts and what the flow
//! tests call. It dispatches on the same route table the functions check themselves against.

use shared::routes::Function;
use shared::{ApiRequest, Body, Deps, Request, Response};

/// Serves one request with the handler of the function that owns its route. Each handler's
/// future is boxed: inline, the largest of them would size this one, and deep async stacks
/// overflow small thread stacks.
pub async fn dispatch(deps: &Deps, req: Request) -> Response<Body> {
    if req.method() == "OPTIONS" {
        return shared::http::preflight();
    }
    let route = match shared::routes::resolve_request(&req) {
        Ok(route) => route,
        Err(error) => return ApiRequest::from_http(req).respond(Err(error)),
    };
    match route.function {
        Function::CreateSession => Box::pin(create_session::handle(deps, req)).await,
        Function::GetSession => Box::pin(get_session::handle(deps, req)).await,
        Function::DestroySession => Box::pin(destroy_session::handle(deps, req)).await,
        Function::Login => Box::pin(login::handle(deps, req)).await,
        Function::Logout => Box::pin(logout::handle(deps, req)).await,
        Function::Signup => Box::pin(signup::handle(deps, req)).await,
        Function::UpdateUser => Box::pin(update_user::handle(deps, req)).await,
        Function::DeleteUser => Box::pin(delete_user::handle(deps, req)).await,
        Function::ListUsersV2 => Box::pin(list_users_v2::handle(deps, req)).await,
        Function::UsersV1 => Box::pin(users_v1::handle(deps, req)).await,
        Function::CreateBlob => Box::pin(create_blob::handle(deps, req)).await,
        Function::CompleteBlob => Box::pin(complete_blob::handle(deps, req)).await,
        Function::GetBlob => Box::pin(get_blob::handle(deps, req)).await,
        Function::DeleteBlob => Box::pin(delete_blob::handle(deps, req)).await,
        Function::ResetPassword => Box::pin(reset_password::handle(deps, req)).await,
        Function::ResetPage => Box::pin(reset_page::handle(deps, req)).await,
    }
}

/// The functions this router dispatches to: every routed one (the match above is
/// exhaustive, so a new function cannot be left out).
pub const FUNCTIONS: [Function; 16] = Function::ALL;
