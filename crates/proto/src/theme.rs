//! The tenant's theme background images (`/api/v1/theme-assets`): uploaded as the raw
//! body of one request, listed, served and removed. Settings `theme.visual` names the one in
//! use (`backgroundAssetId`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An uploaded background image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ThemeAsset {
    pub id: String,
    /// `image/png`, `image/jpeg` or `image/webp`.
    pub mime_type: String,
    pub size_bytes: u64,
    pub width: u32,
    pub height: u32,
    pub created_at: i64,
    /// Where the web UI loads it from (a signed-in page's cookie opens it).
    pub url: String,
}
