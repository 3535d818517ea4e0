//! Shapes shared by several resources on the wire: links, timestamps.

use serde::Serialize;
use utoipa::ToSchema;

/// `{rel, href}`; hrefs are relative and start with `/rest/`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Link {
    pub rel: &'static str,
    pub href: String,
}

impl Link {
    pub fn this(href: String) -> Vec<Link> {
        vec![Link { rel: "self", href }]
    }
}

/// A stored time (Unix milliseconds) as `2018-06-27T11:26:07Z`.
pub fn timestamp(millis: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
}

/// Parses an RFC 3339 time from a request into Unix milliseconds.
pub fn parse_timestamp(field: &'static str, s: &str) -> Result<i64, crate::error::ApiError> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|_| crate::error::ApiError::bad_request(field, "must be an RFC 3339 time like 2026-01-31T12:00:00Z"))?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).map_err(|_| crate::error::ApiError::bad_request(field, "out of range"))
}

/// Parses the value of an HTML `datetime-local` field (`2026-01-31T12:00`,
/// seconds optional), read as UTC, into Unix milliseconds.
pub fn parse_form_time(field: &'static str, s: &str) -> Result<i64, crate::error::ApiError> {
    let minutes = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let seconds = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let t = time::PrimitiveDateTime::parse(s, minutes)
        .or_else(|_| time::PrimitiveDateTime::parse(s, seconds))
        .map_err(|_| crate::error::ApiError::bad_request(field, "must be a time like 2026-01-31T12:00 (UTC)"))?;
    i64::try_from(t.assume_utc().unix_timestamp_nanos() / 1_000_000).map_err(|_| crate::error::ApiError::bad_request(field, "out of range"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn form_times_are_utc_minutes() {
        let ms = super::parse_form_time("from", "2018-06-27T11:26").unwrap();
        assert_eq!(super::timestamp(ms), "2018-06-27T11:26:00Z");
        assert_eq!(super::parse_form_time("from", "2018-06-27T11:26:07").unwrap(), ms + 7000);
        let err = super::parse_form_time("from", "tomorrow").unwrap_err();
        assert!(matches!(err, crate::error::ApiError::BadRequest { field: Some(f), .. } if f == "from"));
    }

    #[test]
    fn timestamps_round_trip_to_the_second() {
        let ms = super::parse_timestamp("t", "2018-06-27T11:26:07Z").unwrap();
        assert_eq!(super::timestamp(ms), "2018-06-27T11:26:07Z");
        assert!(super::parse_timestamp("t", "yesterday").is_err());
    }
}

/// `page`, `size` and `sort` of offset-paged lists (api-contract.md §0.4).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page index from 0.
    pub page: Option<i64>,
    /// Items per page, 1 to 1000 (default 100).
    pub size: Option<i64>,
    /// `attribute,asc` or `attribute,desc`.
    pub sort: Option<String>,
}

pub const MAX_PAGE_SIZE: i64 = 1000;

impl PageQuery {
    pub fn request(&self) -> Result<locus_store::PageRequest, crate::error::ApiError> {
        let page = self.page.unwrap_or(0);
        let size = self.size.unwrap_or(100);
        if !(0..=1_000_000).contains(&page) {
            return Err(crate::error::ApiError::bad_request("page", "must be 0 to 1000000"));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&size) {
            return Err(crate::error::ApiError::bad_request("size", format!("must be 1 to {MAX_PAGE_SIZE}")));
        }
        Ok(locus_store::PageRequest { page, size })
    }

    /// The page of a list kept in one order: a `sort` is refused (400)
    /// rather than silently ignored.
    pub fn request_unsorted(&self) -> Result<locus_store::PageRequest, crate::error::ApiError> {
        if self.sort.as_deref().is_some_and(|s| !s.is_empty()) {
            return Err(crate::error::ApiError::bad_request(
                "sort",
                "this list has one order and cannot be sorted otherwise",
            ));
        }
        self.request()
    }

    /// Parses `sort` against the allowed attributes; `(attribute, ascending)`.
    pub fn sort<'a>(&'a self, allowed: &[&'a str]) -> Result<Option<(&'a str, bool)>, crate::error::ApiError> {
        let Some(sort) = self.sort.as_deref().filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        let (attribute, direction) = sort.split_once(',').unwrap_or((sort, "asc"));
        let ascending = match direction.to_ascii_lowercase().as_str() {
            "asc" => true,
            "desc" => false,
            _ => return Err(crate::error::ApiError::bad_request("sort", "direction must be asc or desc")),
        };
        if !allowed.contains(&attribute) {
            return Err(crate::error::ApiError::bad_request(
                "sort",
                format!("can sort by {}", allowed.join(", ")),
            ));
        }
        Ok(Some((attribute, ascending)))
    }
}

/// PageDTO.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageDto {
    pub size: i64,
    pub total_elements: i64,
    pub total_pages: i64,
    pub number: i64,
}

/// Every paged response: `content`, `links` (always present; `next` only while
/// another page exists, carrying every filter of this request) and `page`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paged<T: ToSchema> {
    pub content: Vec<T>,
    pub links: Vec<Link>,
    pub page: PageDto,
}

impl<T: ToSchema> Paged<T> {
    /// Wraps one page; `uri` is the request's, whose other query parameters the links keep.
    pub fn new(content: Vec<T>, total: i64, request: locus_store::PageRequest, uri: &axum::http::Uri) -> Paged<T> {
        let link = |page: i64| {
            let kept = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()).filter(|(k, _)| k != "page" && k != "size");
            let query = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(kept)
                .append_pair("page", &page.to_string())
                .append_pair("size", &request.size.to_string())
                .finish();
            format!("{}?{query}", uri.path())
        };
        let mut links = vec![Link {
            rel: "self",
            href: link(request.page),
        }];
        if (request.page + 1).saturating_mul(request.size) < total {
            links.push(Link {
                rel: "next",
                href: link(request.page + 1),
            });
        }
        let total_pages = if total == 0 { 0 } else { (total + request.size - 1) / request.size };
        Paged {
            content,
            links,
            page: PageDto {
                size: request.size,
                total_elements: total,
                total_pages,
                number: request.page,
            },
        }
    }
}
