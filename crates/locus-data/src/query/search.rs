//! Full-text search of features by title (issue 18, `GET /search`): a tantivy
//! index held in memory per dataset version and title property, built when
//! the version is loaded (or on the first search after a restart).
//!
//! Titles and queries go through the same analyzer: words split at anything
//! that is not a letter or digit, lower-cased and folded to ASCII, so
//! "plzen" finds "Plzeň". Every word of the query must begin a word of the
//! title (prefix matching, so a title is found while it is being typed);
//! hits are ranked by BM25, a whole word above a prefix, then shorter titles,
//! then alphabetically. Data permissions apply inside the search: the rows a
//! caller's permissions leave are computed once per version and set of
//! permissions (one query over the keys, kept), and the index ranks and
//! counts only those, so a filtered caller never sees, or counts, a row the
//! permissions hide.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use arrow::record_batch::RecordBatch;
use serde_json::{json, Value};
use tantivy::collector::{Count, FilterCollector, TopDocs};
use tantivy::query::{BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST};
use tantivy::tokenizer::{AsciiFoldingFilter, LowerCaser, SimpleTokenizer, TextAnalyzer};
use tantivy::{Index, IndexReader, TantivyDocument, Term};

use super::ast::{Filter, Parser};
use super::{Engine, QueryError, Snapshot};
use crate::{DataStore, PropertyType};

/// Which rows of a title index a caller's data permissions leave, by row.
type Allowed = Arc<Vec<bool>>;

const ANALYZER: &str = "folded";

/// Where the map flies to for a hit.
#[derive(Debug, Clone, Copy)]
enum Place {
    Point {
        lat: f64,
        lng: f64,
    },
    /// [west, south, east, north]
    Bounds([f64; 4]),
}

struct Feature {
    id: Value,
    title: String,
    place: Place,
}

/// One dataset version's titles, searchable.
pub(crate) struct TitleIndex {
    reader: IndexReader,
    index: Index,
    title: tantivy::schema::Field,
    /// Per document (by its `row` fast field): what a hit shows.
    features: Vec<Feature>,
    /// Each key's row, made at the first search under data permissions.
    rows_by_key: std::sync::OnceLock<RowsByKey>,
}

/// The rows of an index by their key: integers, or keys as text.
enum RowsByKey {
    Ints(HashMap<i64, usize>),
    Texts(HashMap<String, usize>),
}

impl RowsByKey {
    fn of(features: &[Feature]) -> Self {
        if features.iter().all(|f| f.id.is_i64()) {
            RowsByKey::Ints(
                features
                    .iter()
                    .enumerate()
                    .filter_map(|(row, f)| Some((f.id.as_i64()?, row)))
                    .collect(),
            )
        } else {
            RowsByKey::Texts(
                features
                    .iter()
                    .enumerate()
                    .filter_map(|(row, f)| Some((f.id.as_str()?.to_owned(), row)))
                    .collect(),
            )
        }
    }

    /// Marks the rows of the keys in `keys` (a key column as the query
    /// engine answers it).
    fn mark(&self, keys: &dyn Array, allowed: &mut [bool]) -> Result<(), QueryError> {
        let mut set = |row: Option<&usize>| {
            if let Some(&row) = row {
                allowed[row] = true;
            }
        };
        match (self, keys.as_primitive_opt::<Int64Type>()) {
            (RowsByKey::Ints(rows), Some(ints)) => ints.iter().flatten().for_each(|k| set(rows.get(&k))),
            (RowsByKey::Texts(rows), _) => {
                let texts = arrow::compute::cast(keys, &DataType::Utf8).map_err(internal)?;
                texts.as_string::<i32>().iter().flatten().for_each(|k| set(rows.get(k)));
            }
            (RowsByKey::Ints(rows), None) => {
                let ints = arrow::compute::cast(keys, &DataType::Int64).map_err(internal)?;
                ints.as_primitive::<Int64Type>().iter().flatten().for_each(|k| set(rows.get(&k)));
            }
        }
        Ok(())
    }
}

/// A search's ranked hits (at most the `limit` asked) and how many matched.
#[derive(Debug, Clone, Default)]
pub struct SearchHits {
    pub total: usize,
    pub hits: Vec<Value>,
}

fn internal(e: impl std::fmt::Display) -> QueryError {
    QueryError::Internal(format!("the search index: {e}"))
}

impl TitleIndex {
    /// Indexes the rows of a version that have a title and a place on the map.
    fn build(batches: &[RecordBatch], key: &str, title: &str, place: &PlaceColumns) -> Result<Self, QueryError> {
        let mut schema = Schema::builder();
        let indexing = TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqs);
        let title_field = schema.add_text_field("title", TextOptions::default().set_indexing_options(indexing));
        let row_field = schema.add_u64_field("row", FAST);
        let index = Index::create_in_ram(schema.build());
        index.tokenizers().register(
            ANALYZER,
            TextAnalyzer::builder(SimpleTokenizer::default())
                .filter(LowerCaser)
                .filter(AsciiFoldingFilter)
                .build(),
        );
        let mut writer: tantivy::IndexWriter = index.writer_with_num_threads(1, 64 * 1024 * 1024).map_err(internal)?;
        let mut features = Vec::new();
        for batch in batches {
            let column = |name: &str| {
                batch
                    .column_by_name(name)
                    .ok_or_else(|| QueryError::Internal(format!("the stored rows have no column {name}")))
            };
            let keys = column(key)?;
            let keys = if keys.data_type() == &DataType::Int64 {
                keys.clone()
            } else {
                arrow::compute::cast(keys, &DataType::Utf8).map_err(internal)?
            };
            let titles = arrow::compute::cast(column(title)?, &DataType::Utf8).map_err(internal)?;
            let titles = titles.as_string::<i32>();
            let places: Vec<Option<Place>> = match place {
                PlaceColumns::Point { lat, lng } => {
                    let (lats, lngs) = (column(lat)?, column(lng)?);
                    let (Some(lats), Some(lngs)) = (lats.as_primitive_opt::<Float64Type>(), lngs.as_primitive_opt::<Float64Type>()) else {
                        return Err(QueryError::Internal("latitude and longitude are not stored as numbers".into()));
                    };
                    (0..batch.num_rows())
                        .map(|i| {
                            (!lats.is_null(i) && !lngs.is_null(i)).then(|| Place::Point {
                                lat: lats.value(i),
                                lng: lngs.value(i),
                            })
                        })
                        .collect()
                }
                PlaceColumns::Geometry(name) => {
                    let shapes = column(name)?;
                    let Some(shapes) = shapes.as_binary_opt::<i32>() else {
                        return Err(QueryError::Internal("geometries are not stored as WKB".into()));
                    };
                    (0..batch.num_rows())
                        .map(|i| (!shapes.is_null(i)).then(|| bounds(shapes.value(i))).flatten())
                        .collect()
                }
            };
            for (i, place) in places.into_iter().enumerate() {
                let Some(place) = place else { continue };
                if keys.is_null(i) || titles.is_null(i) {
                    continue;
                }
                let id = match keys.as_primitive_opt::<Int64Type>() {
                    Some(ints) => Value::from(ints.value(i)),
                    None => Value::from(keys.as_string::<i32>().value(i)),
                };
                features.push(Feature {
                    id,
                    title: titles.value(i).to_owned(),
                    place,
                });
            }
        }
        // Rows numbered shorter titles first, then alphabetically: among
        // equal scores the smaller row ranks higher, so the ranking needs no
        // sort after the search.
        features.sort_by(|a, b| a.title.len().cmp(&b.title.len()).then_with(|| a.title.cmp(&b.title)));
        for (row, feature) in features.iter().enumerate() {
            let mut doc = TantivyDocument::default();
            doc.add_text(title_field, &feature.title);
            doc.add_u64(row_field, row as u64);
            writer.add_document(doc).map_err(internal)?;
        }
        writer.commit().map_err(internal)?;
        let reader = index.reader().map_err(internal)?;
        Ok(TitleIndex {
            reader,
            index,
            title: title_field,
            features,
            rows_by_key: std::sync::OnceLock::new(),
        })
    }

    /// The words of `text` as the index holds them.
    fn words(&self, text: &str) -> Result<Vec<String>, QueryError> {
        let mut analyzer = self.index.tokenizer_for_field(self.title).map_err(internal)?;
        let mut stream = analyzer.token_stream(text);
        let mut words = Vec::new();
        stream.process(&mut |token| words.push(token.text.clone()));
        Ok(words)
    }

    /// The features whose title has every word of `text` (each beginning a
    /// word of the title) among the `allowed` rows (all without), the best
    /// `limit` first, and how many there are.
    fn matches(&self, text: &str, limit: usize, allowed: Option<Allowed>) -> Result<(usize, Vec<usize>), QueryError> {
        let words = self.words(text)?;
        if words.is_empty() {
            return Ok((0, Vec::new()));
        }
        // The collector reserves room for what it is asked: never more
        // than there are titles (a far page asks for (page + 1) * size).
        let limit = limit.clamp(1, self.features.len().max(1));
        let clauses: Vec<(Occur, Box<dyn Query>)> = words
            .iter()
            .map(|word| {
                let term = Term::from_field_text(self.title, word);
                let whole: Box<dyn Query> = Box::new(BoostQuery::new(
                    Box::new(TermQuery::new(term.clone(), IndexRecordOption::WithFreqs)),
                    2.0,
                ));
                let prefix: Box<dyn Query> = Box::new(FuzzyTermQuery::new_prefix(term, 0, false));
                let either: Box<dyn Query> = Box::new(BooleanQuery::new(vec![(Occur::Should, whole), (Occur::Should, prefix)]));
                (Occur::Must, either)
            })
            .collect();
        let query = BooleanQuery::new(clauses);
        // Ranked by score, ties to the smaller row (shorter title, then
        // alphabetical), read from the `row` fast field once per segment.
        let ranked = TopDocs::with_limit(limit).tweak_score(|segment: &tantivy::SegmentReader| {
            let rows = segment.fast_fields().u64("row").ok();
            move |doc: tantivy::DocId, score: tantivy::Score| {
                let row = rows.as_ref().and_then(|rows| rows.first(doc)).unwrap_or(u64::MAX);
                (score, std::cmp::Reverse(row))
            }
        });
        let searcher = self.reader.searcher();
        let (top, total) = match allowed {
            None => searcher.search(&query, &(ranked, Count)),
            Some(allowed) => {
                let visible = move |row: u64| usize::try_from(row).ok().and_then(|r| allowed.get(r).copied()).unwrap_or(false);
                searcher.search(&query, &FilterCollector::new("row".to_owned(), visible, (ranked, Count)))
            }
        }
        .map_err(internal)?;
        let rows = top
            .into_iter()
            .map(|((_, std::cmp::Reverse(row)), _)| row as usize)
            .filter(|&row| row < self.features.len())
            .collect();
        Ok((total, rows))
    }

    fn hit(&self, row: usize, dataset: &str) -> Value {
        let feature = &self.features[row];
        let mut hit = json!({"id": feature.id, "title": feature.title, "dataset": dataset});
        match feature.place {
            Place::Point { lat, lng } => {
                hit["lat"] = json!(lat);
                hit["lng"] = json!(lng);
            }
            Place::Bounds(b) => hit["bbox"] = json!(b),
        }
        hit
    }
}

/// The bounding box of a stored (WKB) geometry.
fn bounds(wkb: &[u8]) -> Option<Place> {
    use geo::BoundingRect;
    use geozero::ToGeo;
    let shape = geozero::wkb::Wkb(wkb).to_geo().ok()?;
    let rect = shape.bounding_rect()?;
    Some(Place::Bounds([rect.min().x, rect.min().y, rect.max().x, rect.max().y]))
}

/// Which columns place a dataset's rows on the map.
enum PlaceColumns {
    Point { lat: String, lng: String },
    Geometry(String),
}

impl Engine {
    /// Full-text search of a dataset's features by its `title` property:
    /// the `limit` best hits among the rows the caller may see (data
    /// permissions apply) and how many there are. Each hit has `id`,
    /// `title`, `dataset` and where to fly to: `lat`/`lng` (a point) or
    /// `bbox` [w, s, e, n]. Rows with no place on the map are not found.
    #[allow(clippy::too_many_arguments)]
    pub async fn search(
        &self,
        data: &DataStore,
        snapshot: &Snapshot,
        dataset: &str,
        title: &str,
        text: &str,
        limit: usize,
        perms: &[Filter],
    ) -> Result<SearchHits, QueryError> {
        let index = self.title_index(data, snapshot, dataset, title).await?;
        let allowed = if perms.is_empty() {
            None
        } else {
            Some(self.allowed_rows(data, snapshot, dataset, title, &index, perms).await?)
        };
        let text = text.to_owned();
        let index2 = index.clone();
        let (total, rows) = tokio::task::spawn_blocking(move || index2.matches(&text, limit, allowed))
            .await
            .map_err(internal)??;
        Ok(SearchHits {
            total,
            hits: rows.iter().map(|&r| index.hit(r, dataset)).collect(),
        })
    }

    /// The rows of a title index that `perms` leave: the keys one query
    /// answers under them, marked by row; kept per title, permissions and
    /// the versions of every dataset (a permission may filter through a
    /// dimension, so a new version of any dataset, or a changed permission,
    /// is a new entry).
    async fn allowed_rows(
        &self,
        data: &DataStore,
        snapshot: &Snapshot,
        dataset: &str,
        title: &str,
        index: &Arc<TitleIndex>,
        perms: &[Filter],
    ) -> Result<Allowed, QueryError> {
        let mut versions: Vec<String> = snapshot.versions.values().map(ToString::to_string).collect();
        versions.sort_unstable();
        let key = format!("{dataset}#{title}#{perms:?}#{versions:?}");
        if let Some(allowed) = self.allowed_rows.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(allowed);
        }
        let model = &snapshot.model;
        let pk = format!(
            "{dataset}.{}",
            model.dataset(dataset).map_err(|m| QueryError::new("dataset", m))?.primary_key
        );
        let body = json!({"properties": [{"id": "id", "type": "property", "value": pk}]});
        let request = Parser::new(model).request(&body, "")?;
        let (_, keys) = self.query_batches(data, snapshot, &request, perms, &HashMap::new()).await?;
        let index = index.clone();
        let allowed = tokio::task::spawn_blocking(move || -> Result<Allowed, QueryError> {
            let rows = index.rows_by_key.get_or_init(|| RowsByKey::of(&index.features));
            let mut allowed = vec![false; index.features.len()];
            for batch in &keys {
                rows.mark(batch.column(0).as_ref(), &mut allowed)?;
            }
            Ok(Arc::new(allowed))
        })
        .await
        .map_err(internal)??;
        if let Ok(mut kept) = self.allowed_rows.lock() {
            if kept.len() >= 64 {
                kept.clear();
            }
            kept.insert(key, allowed.clone());
        }
        Ok(allowed)
    }

    /// Builds the search index of a dataset version's titles ahead of its
    /// first search (after a load).
    /// A dataset with no place on the map has nothing to find.
    pub async fn index_titles(&self, data: &DataStore, snapshot: &Snapshot, dataset: &str, title: &str) -> Result<(), QueryError> {
        let model = &snapshot.model;
        let placed = model.lat_lng(dataset).is_ok()
            || model
                .dataset(dataset)
                .is_ok_and(|d| d.properties.iter().any(|p| p.ty == PropertyType::Geometry));
        if placed {
            self.title_index(data, snapshot, dataset, title).await?;
        }
        Ok(())
    }

    async fn title_index(&self, data: &DataStore, snapshot: &Snapshot, dataset: &str, title: &str) -> Result<Arc<TitleIndex>, QueryError> {
        let model = &snapshot.model;
        let def = model.dataset(dataset).map_err(|m| QueryError::new("dataset", m))?;
        model
            .property(&format!("{dataset}.{title}"))
            .map_err(|m| QueryError::new("dataset", format!("the title property: {m}")))?;
        let path = snapshot
            .versions
            .get(dataset)
            .ok_or_else(|| QueryError::NoData(dataset.to_owned()))?;
        let key = format!("{path}#{title}");
        if let Some(index) = self.title_indexes.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(index);
        }
        let place = match (
            def.properties.iter().find(|p| p.ty == PropertyType::Geometry),
            model.lat_lng(dataset),
        ) {
            (Some(g), _) => PlaceColumns::Geometry(g.name.clone()),
            (None, Ok((lat, lng))) => PlaceColumns::Point {
                lat: lat.property,
                lng: lng.property,
            },
            (None, Err(_)) => {
                return Err(QueryError::new(
                    "dataset",
                    format!("dataset {dataset} has no geometry, latitude or longitude to find on the map"),
                ))
            }
        };
        let table = self.tables.table(data, path, def).await?;
        let mut batches = Vec::new();
        for partition in &table.batches {
            batches.extend(partition.read().await.iter().cloned());
        }
        let (pk, title) = (def.primary_key.clone(), title.to_owned());
        let index = tokio::task::spawn_blocking(move || TitleIndex::build(&batches, &pk, &title, &place))
            .await
            .map_err(internal)??;
        let index = Arc::new(index);
        if let Ok(mut indexes) = self.title_indexes.lock() {
            if indexes.len() >= 8 {
                indexes.clear();
            }
            indexes.insert(key, index.clone());
        }
        Ok(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};

    fn feature(id: Value) -> Feature {
        Feature {
            id,
            title: String::new(),
            place: Place::Point { lat: 0.0, lng: 0.0 },
        }
    }

    #[test]
    fn keys_mark_their_rows_whether_integers_or_text() {
        let ints = RowsByKey::of(&[feature(json!(7)), feature(json!(3)), feature(json!(9))]);
        let mut allowed = vec![false; 3];
        ints.mark(&Int64Array::from(vec![Some(9), None, Some(7), Some(100)]), &mut allowed)
            .unwrap();
        assert_eq!(allowed, [true, false, true]);
        let texts = RowsByKey::of(&[feature(json!("a")), feature(json!("b"))]);
        let mut allowed = vec![false; 2];
        texts
            .mark(&StringArray::from(vec![Some("b"), None, Some("z")]), &mut allowed)
            .unwrap();
        assert_eq!(allowed, [false, true]);
    }
}
