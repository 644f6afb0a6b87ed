//! Fault injection for the AWS SDK clients of a test environment: an interceptor that, once
//! armed, makes the Nth call (counting every attempt, retries included) and every later one
//! fail in a chosen way. Disarmed, it does nothing.
//!
//! The kinds cover what a Lambda function meets in production:
//! - `Refuse`: the call never reaches the service (a connection error);
//! - `LoseResponse`: the service applied the call, but its answer is lost (the client sees
//!   an error for a write that happened: the hardest case for all-or-nothing);
//! - `Throttle`: the service answers `ThrottlingException` (the SDK backs off and retries);
//! - `Hang`: the call goes to a peer that never answers (the attempt timeout fires).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeDeserializationInterceptorContextRef,
    BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Refuse,
    LoseResponse,
    Throttle,
    Hang,
}

#[derive(Debug, Default)]
struct Plan {
    /// Fail from this call on (1-based), counting from when the plan was armed.
    from_call: Option<usize>,
    fault: Option<Fault>,
}

/// The switch a test holds: arm, disarm, and count calls.
#[derive(Debug, Clone)]
pub struct Faults {
    plan: Arc<Mutex<Plan>>,
    calls: Arc<AtomicUsize>,
    /// A loopback listener that accepts connections and never answers.
    silent_peer: SocketAddr,
}

impl Faults {
    /// A disarmed switch; `silent_peer` is where `Hang` sends calls.
    pub fn new(silent_peer: SocketAddr) -> Faults {
        Faults { plan: Arc::default(), calls: Arc::default(), silent_peer }
    }

    /// From now on, the `nth` call (1-based) and every later one fail with `fault`.
    pub fn fail_from(&self, nth: usize, fault: Fault) {
        self.calls.store(0, Ordering::SeqCst);
        *self.plan.lock().expect("fault plan") = Plan { from_call: Some(nth.max(1)), fault: Some(fault) };
    }

    /// Counts calls from now on without failing any (to learn how many an operation makes).
    pub fn count_only(&self) {
        self.calls.store(0, Ordering::SeqCst);
        *self.plan.lock().expect("fault plan") = Plan::default();
    }

    pub fn disarm(&self) {
        self.count_only();
    }

    /// Calls seen since the last `fail_from` or `count_only`.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// The interceptor to install on a client.
    pub fn interceptor(&self) -> FaultInterceptor {
        FaultInterceptor { faults: self.clone() }
    }

    /// The fault for the call being made now, counting it.
    fn next_call(&self) -> Option<Fault> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let plan = self.plan.lock().expect("fault plan");
        match (plan.from_call, plan.fault) {
            (Some(from), Some(fault)) if n >= from => Some(fault),
            _ => None,
        }
    }
}

/// The call's fault, decided once per attempt before it is sent and read again later.
#[derive(Debug, Clone, Copy)]
struct Decided(Option<Fault>);

impl aws_smithy_types::config_bag::Storable for Decided {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

#[derive(Debug, Clone)]
pub struct FaultInterceptor {
    faults: Faults,
}

const THROTTLED: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#;

impl Intercept for FaultInterceptor {
    fn name(&self) -> &'static str {
        "FaultInjection"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let fault = self.faults.next_call();
        cfg.interceptor_state().store_put(Decided(fault));
        match fault {
            Some(Fault::Refuse) => Err("injected fault: connection refused".into()),
            Some(Fault::Hang) => {
                let uri = context.request().uri().to_string();
                let rest = uri.splitn(4, '/').nth(3).unwrap_or_default();
                context.request_mut().set_uri(format!("http://{}/{rest}", self.faults.silent_peer))?;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn read_after_transmit(
        &self,
        _context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        match cfg.load::<Decided>() {
            Some(Decided(Some(Fault::LoseResponse))) => Err("injected fault: the response was lost".into()),
            _ => Ok(()),
        }
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Decided(Some(Fault::Throttle))) = cfg.load::<Decided>() {
            let mut response = Response::new(StatusCode::try_from(400u16)?, SdkBody::from(THROTTLED));
            response.headers_mut().insert("content-type", "application/x-amz-json-1.0");
            *context.response_mut() = response;
        }
        Ok(())
    }
}

/// A loopback listener that accepts connections and holds them open without a word, for
/// `Fault::Hang`. Lives as long as the runtime that spawned it.
pub async fn silent_peer() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a silent peer");
    let addr = listener.local_addr().expect("silent peer address");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}
