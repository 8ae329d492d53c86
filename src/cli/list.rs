//! `berth list`.

use berth::container::StateView;
use berth::state::StateStore;
use berth::Error;
use clap::ValueEnum;

/// Flags of `list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format: table or json.
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: ListFormat,
    /// Print only the ids.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `--format` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ListFormat {
    // Aligned columns.
    Table,
    // A JSON array of state objects.
    Json,
}

pub fn execute(store: &StateStore, args: Args) -> Result<i32, Error> {
    let views = berth::container::list(store)?;
    if args.quiet {
        views.iter().for_each(|v| println!("{}", v.id));
    } else {
        match args.format {
            ListFormat::Json => println!(
                "{}",
                serde_json::to_string(&views).map_err(|e| Error::Usage(e.to_string()))?
            ),
            ListFormat::Table => print!("{}", table(&views)),
        }
    }
    Ok(0)
}

/// Columns as runc prints them: each at least 12 wide, 3 spaces of padding.
fn table(views: &[StateView]) -> String {
    let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from).to_vec();
    let rows: Vec<Vec<String>> = std::iter::once(header)
        .chain(views.iter().map(|v| {
            vec![
                v.id.clone(),
                v.pid.to_string(),
                v.status.to_string(),
                v.bundle.display().to_string(),
                v.created.clone(),
                v.owner.clone(),
            ]
        }))
        .collect();
    let widths: Vec<usize> =
        (0..6).map(|c| rows.iter().map(|r| r[c].len() + 3).max().unwrap_or(0).max(12)).collect();
    rows.iter()
        .map(|row| {
            let mut line: String =
                row[..5].iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
            line.push_str(&row[5]);
            line.push('\n');
            line
        })
        .collect()
}
