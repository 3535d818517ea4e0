//! The checks of a `validate` job over the current versions of a project's
//! datasets (data-plane.md §4): keys, foreign keys, types, coordinates,
//! geometries and area mapping.
//!
//! Each check is one DataFusion plan over the stored files (counts and ten
//! samples, never the rows in memory), except geometry validity, which
//! decodes the stored WKB batch by batch and asks geo. A finding names the
//! dataset, the property and the kind; `samples` are the primary keys of
//! offending rows, or for a foreign key the values not found.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use datafusion::dataframe::DataFrame;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::{col, ident, lit, Expr, ExprSchemable, JoinType};
use datafusion::prelude::{cast, try_cast};
use futures::StreamExt;
use geo::Validation;
use geozero::wkb::Wkb;
use geozero::ToGeo;
use object_store::path::Path;
use object_store::ObjectStore;

use crate::incremental::{read, session};
use crate::schema::{DatasetDef, PropertyType};
use crate::DataError;

/// Samples per finding.
const SAMPLES: usize = 10;

/// One thing wrong with the data.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub dataset: String,
    pub property: Option<String>,
    /// `notLoaded`, `primaryKeyNull`, `primaryKeyDuplicate`, `missingColumn`,
    /// `type`, `foreignKey`, `latitudeRange`, `longitudeRange`,
    /// `invalidGeometry` or `outsideAreas`.
    pub kind: &'static str,
    /// Offending rows (for `primaryKeyDuplicate`: keys that repeat).
    pub count: u64,
    pub samples: Vec<String>,
}

/// A dataset to check, with the file of its current version (`None`: never
/// loaded).
pub struct Checked {
    pub def: DatasetDef,
    pub version: Option<Path>,
}

/// Runs every check over `datasets`; foreign keys are looked up among the
/// same datasets.
pub async fn validate(store: Arc<dyn ObjectStore>, datasets: &[Checked]) -> Result<Vec<Finding>, DataError> {
    let ctx = session(store.clone())?;
    let mut frames = HashMap::new();
    for d in datasets {
        if let Some(path) = &d.version {
            frames.insert(d.def.name.as_str(), (read(&ctx, path).await?, &d.def));
        }
    }
    let mut findings = Vec::new();
    for d in datasets {
        let def = &d.def;
        let Some((df, _)) = frames.get(def.name.as_str()) else {
            findings.push(Finding {
                dataset: def.name.clone(),
                property: None,
                kind: "notLoaded",
                count: 0,
                samples: Vec::new(),
            });
            continue;
        };
        let mut check = Check {
            def,
            df,
            findings: &mut findings,
        };
        check.dataset(&frames).await?;
        check.geometries().await?;
    }
    Ok(findings)
}

/// The loaded datasets by name, with their definitions.
type Frames<'a> = HashMap<&'a str, (DataFrame, &'a DatasetDef)>;

struct Check<'a> {
    def: &'a DatasetDef,
    df: &'a DataFrame,
    findings: &'a mut Vec<Finding>,
}

impl Check<'_> {
    async fn dataset(&mut self, frames: &Frames<'_>) -> Result<(), DataError> {
        let def = self.def;
        let key = ident(&def.primary_key);
        let stored: Vec<String> = self.df.schema().fields().iter().map(|f| f.name().clone()).collect();
        if !stored.contains(&def.primary_key) {
            // Nothing else can name its rows.
            let rows = self.df.clone().count().await? as u64;
            self.push(Some(&def.primary_key), "missingColumn", rows, Vec::new());
            return Ok(());
        }
        self.rows("primaryKeyNull", &def.primary_key, key.clone().is_null()).await?;
        let repeated = self
            .df
            .clone()
            .aggregate(vec![key.clone()], vec![count(lit(1)).alias("n")])?
            .filter(col("n").gt(lit(1)))?;
        self.values("primaryKeyDuplicate", &def.primary_key, repeated, key.clone()).await?;

        for p in &def.properties {
            if p.name == def.primary_key {
                continue;
            }
            let column = ident(&p.name);
            if !stored.contains(&p.name) {
                let rows = self.df.clone().count().await? as u64;
                self.push(Some(&p.name), "missingColumn", rows, Vec::new());
                continue;
            }
            let ty = p.ty.data_type();
            if !same_type(&column.get_type(self.df.schema())?, &ty) {
                let bad = column.clone().is_not_null().and(try_cast(column.clone(), ty).is_null());
                self.rows("type", &p.name, bad).await?;
            }
            match p.ty {
                PropertyType::Latitude => self.rows("latitudeRange", &p.name, out_of(column.clone(), 90.0)).await?,
                PropertyType::Longitude => self.rows("longitudeRange", &p.name, out_of(column.clone(), 180.0)).await?,
                _ => {}
            }
            if p.calculated {
                self.rows("outsideAreas", &p.name, column.clone().is_null()).await?;
            }
            if let Some(target) = &p.foreign_key {
                self.foreign_key(&p.name, target, frames).await?;
            }
        }
        Ok(())
    }

    /// Rows whose value is in no row of the target (NULL is no reference).
    async fn foreign_key(&mut self, name: &str, target: &str, frames: &Frames<'_>) -> Result<(), DataError> {
        let value = ident(name);
        let referring = self.df.clone().filter(value.clone().is_not_null())?;
        let missing = match frames.get(target) {
            Some((target_df, target_def)) => {
                let key = ident(&target_def.primary_key);
                let keys = target_df.clone().select(vec![cast(key, DataType::Utf8).alias("target key")])?;
                referring
                    .select(vec![value.clone(), cast(value.clone(), DataType::Utf8).alias("this key")])?
                    .join_on(keys, JoinType::LeftAnti, [col("this key").eq(col("target key"))])?
            }
            // A target never loaded holds no key at all.
            None => referring.select(vec![value.clone()])?,
        };
        let rows = missing.clone().count().await? as u64;
        if rows > 0 {
            let samples = samples(missing.select(vec![value.clone()])?.distinct()?, value).await?;
            self.push(Some(name), "foreignKey", rows, samples);
        }
        Ok(())
    }

    /// Polygons and lines that geo finds invalid (self-intersecting rings,
    /// too few points, …).
    async fn geometries(&mut self) -> Result<(), DataError> {
        let def = self.def;
        for p in def.properties.iter().filter(|p| p.ty == PropertyType::Geometry) {
            let stored = self.df.schema().fields().iter().any(|f| f.name() == &p.name);
            if !stored {
                continue;
            }
            let selected = self.df.clone().select(vec![
                cast(ident(&def.primary_key), DataType::Utf8).alias("key"),
                // Read back as a view type by DataFusion; one plain type here.
                cast(ident(&p.name), DataType::Binary).alias("wkb"),
            ])?;
            let mut stream = selected.execute_stream().await?;
            let (mut count, mut samples) = (0u64, Vec::new());
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                let keys = batch.column(0).as_string_opt::<i32>();
                let wkb = batch.column(1).as_binary_opt::<i32>();
                let (Some(keys), Some(wkb)) = (keys, wkb) else {
                    return Err(DataError::Corrupt(format!("{}.{} is not stored as WKB", def.name, p.name)));
                };
                for row in 0..batch.num_rows() {
                    if wkb.is_null(row) {
                        continue;
                    }
                    let valid = Wkb(wkb.value(row)).to_geo().is_ok_and(|g| g.is_valid());
                    if !valid {
                        count += 1;
                        if samples.len() < SAMPLES {
                            samples.push(keys.value(row).to_owned());
                        }
                    }
                }
            }
            if count > 0 {
                self.push(Some(&p.name), "invalidGeometry", count, samples);
            }
        }
        Ok(())
    }

    /// A finding for the rows matching `bad`, sampled by primary key.
    async fn rows(&mut self, kind: &'static str, property: &str, bad: Expr) -> Result<(), DataError> {
        let matching = self.df.clone().filter(bad)?;
        let n = matching.clone().count().await? as u64;
        if n > 0 {
            let samples = samples(matching, ident(&self.def.primary_key)).await?;
            self.push(Some(property), kind, n, samples);
        }
        Ok(())
    }

    /// A finding for the rows of `found` (one per offending value).
    async fn values(&mut self, kind: &'static str, property: &str, found: DataFrame, value: Expr) -> Result<(), DataError> {
        let n = found.clone().count().await? as u64;
        if n > 0 {
            let samples = samples(found, value).await?;
            self.push(Some(property), kind, n, samples);
        }
        Ok(())
    }

    fn push(&mut self, property: Option<&str>, kind: &'static str, count: u64, samples: Vec<String>) {
        self.findings.push(Finding {
            dataset: self.def.name.clone(),
            property: property.map(str::to_owned),
            kind,
            count,
            samples,
        });
    }
}

/// Whether a stored column holds the declared type (DataFusion reads
/// strings and binaries back as their view types).
fn same_type(stored: &DataType, declared: &DataType) -> bool {
    let plain = |t: &DataType| match t {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        other => other.clone(),
    };
    plain(stored) == plain(declared)
}

/// `value < -limit OR value > limit`.
fn out_of(value: Expr, limit: f64) -> Expr {
    value.clone().lt(lit(-limit)).or(value.gt(lit(limit)))
}

/// Up to ten values of `value` in `df`, smallest first, as text.
async fn samples(df: DataFrame, value: Expr) -> Result<Vec<String>, DataError> {
    let batches = df
        .select(vec![cast(value, DataType::Utf8).alias("sample")])?
        .sort(vec![col("sample").sort(true, false)])?
        .limit(0, Some(SAMPLES))?
        .collect()
        .await?;
    let mut out = Vec::new();
    for batch in &batches {
        if let Some(text) = batch.column(0).as_string_opt::<i32>() {
            out.extend((0..text.len()).map(|i| if text.is_null(i) { String::new() } else { text.value(i).to_owned() }));
        }
    }
    Ok(out)
}
