//! Samples, statistics and the output: the table and the JSON.

use serde_json::{json, Value};

/// What a row reports in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Unit {
    Millis,
    Mebibytes,
    PerSecond,
    /// How a row above grows per unit of a dimension, named in the row's name.
    Slope,
}

impl Unit {
    pub fn suffix(self) -> &'static str {
        match self {
            Unit::Millis => "ms",
            Unit::Mebibytes => "MiB",
            Unit::PerSecond => "/s",
            Unit::Slope => "slope",
        }
    }
}

/// One runtime's samples in a row, or why it has none.
#[derive(Clone, Debug)]
pub enum Cell {
    Samples(Vec<f64>),
    NotAvailable(String),
}

impl Cell {
    pub fn push(&mut self, v: f64) {
        if let Cell::Samples(s) = self {
            s.push(v);
        }
    }

    pub fn fail(&mut self, why: String) {
        if !self.failed() {
            *self = Cell::NotAvailable(why);
        }
    }

    pub fn failed(&self) -> bool {
        matches!(self, Cell::NotAvailable(_))
    }

    /// (median, min, max).
    pub fn stats(&self) -> Option<(f64, f64, f64)> {
        let Cell::Samples(s) = self else { return None };
        if s.is_empty() {
            return None;
        }
        let mut v = s.clone();
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 0 { (v[mid - 1] + v[mid]) / 2.0 } else { v[mid] };
        Some((median, v[0], v[v.len() - 1]))
    }
}

/// One line of the table.
pub struct Row {
    pub name: String,
    pub unit: Unit,
    /// Indexed like the runtimes.
    pub cells: Vec<Cell>,
    pub warmup: usize,
}

impl Row {
    pub fn not_available(name: &str, k: usize, why: &str) -> Self {
        Row {
            name: name.into(),
            unit: Unit::Millis,
            cells: vec![Cell::NotAvailable(why.into()); k],
            warmup: 0,
        }
    }

    /// berth's median over runtime `other`'s.
    pub fn ratio(&self, other: usize) -> Option<f64> {
        Some(self.cells[0].stats()?.0 / self.cells[other].stats()?.0)
    }
}

pub struct Report {
    pub machine: Value,
    /// (name, version, uses cgroupsPath).
    pub runtimes: Vec<(String, String, bool)>,
    pub notes: Vec<String>,
    pub iterations: usize,
    pub rows: Vec<Row>,
    pub floor: Cell,
    /// One start of a static glibc program (the rootfs's /bin/true) on the host.
    pub start: Cell,
}

fn fmt_value(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn fmt_cell(cell: &Cell) -> String {
    match cell.stats() {
        // A derived value (a slope): no spread to show.
        Some((med, _, _)) if matches!(cell, Cell::Samples(s) if s.len() == 1) => fmt_value(med),
        Some((med, min, max)) => {
            format!("{} ({}–{})", fmt_value(med), fmt_value(min), fmt_value(max))
        }
        None => "n/a".into(),
    }
}

impl Report {
    /// The `run` row the floor is compared with, when the core rows ran.
    fn run_row(&self) -> Option<&Row> {
        self.rows.iter().find(|r| r.name.starts_with("run /bin/true"))
    }

    pub fn to_table(&self) -> String {
        let m = &self.machine;
        let mut out = format!(
            "berth benchmark: {} × {}, kernel {}; {} iterations a row (fewer for the mount and throughput rows), interleaved, after warm-up\n",
            m["nproc"], m["cpu"].as_str().unwrap_or(""), m["kernel"].as_str().unwrap_or(""), self.iterations
        );
        for (name, version, _) in &self.runtimes {
            out.push_str(&format!("  {name}: {version}\n"));
        }
        out.push_str("median (min–max); ratios are berth's median over the other's\n\n");
        let names: Vec<&str> = self.runtimes.iter().map(|r| r.0.as_str()).collect();
        let w = 46;
        out.push_str(&format!(
            "{:<w$} {:>5} {:>22} {:>22} {:>22} {:>10} {:>10}\n",
            "",
            "unit",
            names[0],
            names[1],
            names[2],
            format!("{}/{}", names[0], names[1]),
            format!("{}/{}", names[0], names[2])
        ));
        for row in &self.rows {
            let ratio = |o| row.ratio(o).map_or("n/a".to_string(), |r| format!("{r:.2}"));
            out.push_str(&format!(
                "{:<w$} {:>5} {:>22} {:>22} {:>22} {:>10} {:>10}\n",
                row.name,
                row.unit.suffix(),
                fmt_cell(&row.cells[0]),
                fmt_cell(&row.cells[1]),
                fmt_cell(&row.cells[2]),
                ratio(1),
                ratio(2)
            ));
        }
        if let (Some((fmed, fmin, fmax)), Some((bmed, _, _))) =
            (self.floor.stats(), self.run_row().and_then(|r| r.cells[0].stats()))
        {
            out.push_str(&format!(
                "\nfloor (unshare -pfmiun -C + chroot + exec /bin/true): {} ms ({}–{}); berth run / floor = {:.2}\n",
                fmt_value(fmed), fmt_value(fmin), fmt_value(fmax), bmed / fmed
            ));
        }
        if let Some((med, min, max)) = self.start.stats() {
            out.push_str(&format!(
                "process start (the rootfs's static /bin/true on the host): {} ms ({}–{}); the floor starts three programs, a run at least two\n",
                fmt_value(med), fmt_value(min), fmt_value(max)
            ));
        }
        let mut notes = self.notes.clone();
        for row in &self.rows {
            for (i, cell) in row.cells.iter().enumerate() {
                if let Cell::NotAvailable(why) = cell {
                    notes.push(format!("{} / {}: n/a: {why}", row.name, names[i]));
                }
            }
        }
        if let Cell::NotAvailable(why) = &self.floor {
            notes.push(format!("floor: n/a: {why}"));
        }
        if let Cell::NotAvailable(why) = &self.start {
            notes.push(format!("process start: n/a: {why}"));
        }
        if !notes.is_empty() {
            out.push_str("\nnotes:\n");
            for n in notes {
                out.push_str(&format!("- {n}\n"));
            }
        }
        out
    }

    pub fn to_json(&self) -> Value {
        let stats = |c: &Cell| match c {
            Cell::Samples(s) => match c.stats() {
                Some((med, min, max)) => {
                    json!({ "median": med, "min": min, "max": max, "n": s.len() })
                }
                None => Value::Null,
            },
            Cell::NotAvailable(why) => json!({ "na": why }),
        };
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                let mut results = serde_json::Map::new();
                for (i, (name, _, _)) in self.runtimes.iter().enumerate() {
                    results.insert(name.clone(), stats(&row.cells[i]));
                }
                json!({
                    "name": row.name, "unit": row.unit.suffix(), "warmup": row.warmup,
                    "results": results, "berth_over_crun": row.ratio(1), "berth_over_runc": row.ratio(2),
                })
            })
            .collect();
        let runtimes: Vec<Value> = self
            .runtimes
            .iter()
            .map(|(n, v, cg)| json!({ "name": n, "version": v, "cgroups_path": cg }))
            .collect();
        json!({
            "machine": self.machine, "iterations": self.iterations, "runtimes": runtimes,
            "notes": self.notes, "rows": rows, "floor": stats(&self.floor),
            "process_start": stats(&self.start),
        })
    }
}
