//! S3 on a loopback port: s3s over s3s-fs (files under a directory), with SigV4 and POST
//! policy checks on, and CORS so that a browser page can upload to it directly.

use std::convert::Infallible;
use std::path::Path;

use hyper::body::Incoming;
use hyper::header::{ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue};
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct EmbeddedS3 {
    endpoint: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl EmbeddedS3 {
    /// Serves `root` (one directory per bucket; `bucket` is created) on `127.0.0.1:<random>`,
    /// accepting requests signed with `access_key` / `secret_key` only.
    pub async fn start(root: &Path, bucket: &str, access_key: &str, secret_key: &str) -> anyhow::Result<EmbeddedS3> {
        std::fs::create_dir_all(root.join(bucket))?;
        let fs = s3s_fs::FileSystem::new(root).map_err(|e| anyhow::anyhow!("s3s-fs on {}: {e:?}", root.display()))?;
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(access_key, secret_key));
        let service = builder.build();

        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    accepted = crate::listen::accept_or_pause(&listener) => match accepted {
                        Ok(pair) => pair,
                        Err(_) => continue,
                    },
                    _ = &mut stopped => break,
                };
                let service = service.clone();
                tokio::spawn(async move {
                    let cors = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let service = service.clone();
                        async move { Ok::<_, Infallible>(with_cors(&service, req).await) }
                    });
                    let _ =
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), cors).await;
                });
            }
        });
        Ok(EmbeddedS3 { endpoint, stop: Some(stop), task: Some(task) })
    }

    /// `http://127.0.0.1:<port>`, for `S3_ENDPOINT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// Answers CORS preflights itself and adds `Access-Control-Allow-Origin: *` to S3's answers,
/// which is what the bucket CORS rule in `template.yaml` does in production.
async fn with_cors(service: &s3s::service::S3Service, req: Request<Incoming>) -> Response<s3s::Body> {
    if req.method() == Method::OPTIONS {
        let mut response = Response::new(s3s::Body::empty());
        let headers = response.headers_mut();
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        headers.insert("Access-Control-Allow-Methods", HeaderValue::from_static("GET, HEAD, POST, PUT, DELETE"));
        headers.insert("Access-Control-Allow-Headers", HeaderValue::from_static("*"));
        headers.insert("Access-Control-Max-Age", HeaderValue::from_static("3000"));
        return response;
    }
    let mut response = match hyper::service::Service::call(service, req).await {
        Ok(response) => response,
        Err(error) => {
            let mut response = Response::new(s3s::Body::from(format!("{error:?}")));
            *response.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    };
    let headers = response.headers_mut();
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert("Access-Control-Expose-Headers", HeaderValue::from_static("ETag, Location"));
    response
}
