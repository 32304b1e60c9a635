//! Image metadata (compat §4.1): the digest for the runner's platform and
//! the effective entrypoint, through `src/registry` (credentials and the
//! TLS ladder exactly as `inspect` applies them), kept per image string for
//! the life of the process. Errors are not kept: the next pod start asks
//! the registry again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::registry::{self, ImageInfo};

/// Most image strings kept. Porch's catalog has ~60 functions; this bounds
/// the memory a client could make us spend by asking for many tags that
/// exist (an evicted entry is only resolved again).
const MAX_IMAGES: usize = 4_096;

/// The metadata of every image resolved so far.
pub struct Images {
    registry: Arc<registry::Client>,
    known: Mutex<HashMap<String, Arc<ImageInfo>>>,
}

impl Images {
    pub fn new(registry: Arc<registry::Client>) -> Images {
        Images {
            registry,
            known: Mutex::new(HashMap::new()),
        }
    }

    /// The registry client (credentials, whether they apply to an image).
    pub fn registry(&self) -> &registry::Client {
        &self.registry
    }

    /// The metadata of `image`: kept, or resolved now (by `deadline`).
    /// Two starts resolving the same new image at once both ask the
    /// registry; the answers are the same, and it happens once per image.
    pub fn resolve(
        &self,
        image: &str,
        deadline: Option<Instant>,
    ) -> Result<Arc<ImageInfo>, registry::Error> {
        if let Some(info) = self.lock().get(image) {
            return Ok(Arc::clone(info));
        }
        let started = Instant::now();
        let info = Arc::new(self.registry.resolve_by(image, deadline)?);
        crate::info!(
            "image {image}: digest {}, entrypoint {:?}, via {} ({} ms)",
            info.digest,
            info.entrypoint,
            info.transport.as_str(),
            started.elapsed().as_millis()
        );
        let mut known = self.lock();
        if known.len() >= MAX_IMAGES {
            // Rarely reached; forget an arbitrary half rather than track
            // use order on the hot path.
            let drop: Vec<String> = known.keys().take(MAX_IMAGES / 2).cloned().collect();
            for key in drop {
                known.remove(&key);
            }
        }
        known.insert(image.to_owned(), Arc::clone(&info));
        Ok(info)
    }

    /// The metadata of `image` if it was resolved before (no I/O).
    pub fn known(&self, image: &str) -> Option<Arc<ImageInfo>> {
        self.lock().get(image).cloned()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<ImageInfo>>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }
}
