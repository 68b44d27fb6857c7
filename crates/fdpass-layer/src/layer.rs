//! [`HandoffLayer`]: the tower `Layer` that marks requests for hand-off.

use std::fmt;
use std::sync::Arc;

use http::request;
use tower::Layer;

use crate::sender::Sender;
use crate::service::Handoff;

/// A predicate choosing requests to hand off by their head.
pub(crate) type Predicate = Arc<dyn Fn(&request::Parts) -> bool + Send + Sync>;

/// Applies [`Handoff`] to a service: requests that a predicate chooses, or whose response
/// the application marks with [`HandOff`](crate::HandOff), are handed to the worker behind
/// `sender`.
///
/// The connection must be served by [`serve`](crate::serve) or
/// [`serve_connection`](crate::serve_connection); see the [crate docs](crate) for why.
///
/// ```
/// use fdpass_layer::{HandoffLayer, Sender};
///
/// let layer = HandoffLayer::new(Sender::new("/run/worker.sock"))
///     .when(|req| req.uri.path().starts_with("/stream/"));
/// # let _ = layer;
/// ```
#[derive(Clone)]
pub struct HandoffLayer {
    sender: Sender,
    predicate: Option<Predicate>,
}

impl HandoffLayer {
    /// Hands off through `sender`. Without [`when`](Self::when), only requests whose
    /// response carries [`HandOff`](crate::HandOff) are handed off.
    pub fn new(sender: Sender) -> Self {
        Self {
            sender,
            predicate: None,
        }
    }

    /// Hands off every request for which `predicate` returns `true`, before the inner service
    /// sees it. This keeps the request body with hyper, so body bytes already read reach the
    /// worker in extended mode. Default: no predicate.
    pub fn when<P>(mut self, predicate: P) -> Self
    where
        P: Fn(&request::Parts) -> bool + Send + Sync + 'static,
    {
        self.predicate = Some(Arc::new(predicate));
        self
    }
}

impl fmt::Debug for HandoffLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandoffLayer")
            .field("sender", &self.sender)
            .field("predicate", &self.predicate.is_some())
            .finish()
    }
}

impl<S> Layer<S> for HandoffLayer {
    type Service = Handoff<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Handoff::from_parts(inner, self.sender.clone(), self.predicate.clone())
    }
}
