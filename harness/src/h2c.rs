//! An SDK HTTP client that speaks HTTP/2 with prior knowledge over plain TCP (h2c).
//!
//! aws-sdk-rust's own client picks HTTP/2 only through TLS ALPN, so against an `http://`
//! endpoint it speaks HTTP/1.1; this client lets the harness drive the bidirectional
//! operation over HTTP/2, the only protocol AWS serves it on. It is hyper's client, handed
//! the SDK's requests as they are (signed event streams included).

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

#[derive(Debug, Clone)]
struct H2c {
    client: Client<TcpConnector, SdkBody>,
}

impl HttpConnector for H2c {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        HttpConnectorFuture::new(async move {
            let request = request.try_into_http1x().map_err(|e| ConnectorError::other(e.into(), None))?;
            let response = client.request(request).await.map_err(|e| ConnectorError::io(e.into()))?;
            let (parts, body) = response.into_parts();
            let response = http::Response::from_parts(parts, SdkBody::from_body_1_x(body));
            HttpResponse::try_from(response).map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

impl HttpClient for H2c {
    fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// The h2c client.
pub fn client() -> SharedHttpClient {
    let client = Client::builder(TokioExecutor::new()).http2_only(true).build(TcpConnector::new());
    SharedHttpClient::new(H2c { client })
}
