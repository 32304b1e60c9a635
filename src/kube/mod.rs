//! Kubernetes API client over HTTPS with the service-account token. Work in progress.
