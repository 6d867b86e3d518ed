//! The tenant's look of the web UI (spec ui.md §3.13 Theme): colours for the light and the
//! dark theme and a background image with its overlay, kept in settings `theme`; the images
//! themselves ([`assets`]); and the stylesheet every signed-in page loads after the
//! built-in one ([`css`]), since the Content-Security-Policy allows no inline styles.

pub mod assets;
pub mod css;
pub mod routes;
