//! What a post to a Configure section leaves on the page: the values it typed or generated,
//! the refusal, the sentence to show, more character names.

use crate::http::ApiError;
use crate::ui::records::form::Posted;

#[derive(Default)]
pub struct Typed {
    pub posted: Posted,
    pub error: Option<ApiError>,
    pub notice: Option<String>,
    pub names: Vec<String>,
}
