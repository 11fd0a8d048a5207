//! What people print, as they would print it: the report printed to PDF by a headless
//! Chromium and a caisse's XLSX list printed to PDF by LibreOffice, the PDFs read back by
//! poppler (`pdfinfo`, `pdftotext`): A4, a sane number of pages, no table or column cut at
//! the right edge, the list's header on every page. Without these programs the tests say
//! so loudly and stop; `.ci/run` installs them and sets `RECOURS_REQUIRE_BROWSER=1` so
//! that they cannot pass unchecked there.

use std::process::Command;

use calamine::{Reader, Xlsx, open_workbook};

use crate::common::*;

/// The text of every `<th>` of an HTML page, tags removed and entities decoded.
fn header_cells(html: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("<th") {
        let after = &rest[at..];
        // `<th>` or `<th …>`, not `<thead>`.
        if !matches!(after.as_bytes().get(3), Some(b'>' | b' ')) {
            rest = &after[3..];
            continue;
        }
        let open_end = after.find('>').unwrap() + 1;
        let close = after.find("</th>").unwrap();
        let mut text = String::new();
        let mut in_tag = false;
        for c in after[open_end..close].chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        let text = text
            .replace("&nbsp;", " ")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&");
        if !text.trim().is_empty() {
            cells.push(text);
        }
        rest = &after[close + 5..];
    }
    cells
}

/// The words of `text` cut after hyphens and slashes too (where a narrow cell wraps).
fn pieces_of(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c.is_whitespace() || c == '-' || c == '/')
        .filter(|w| !w.is_empty())
}

fn pieces(text: &str) -> std::collections::HashSet<&str> {
    pieces_of(text).collect()
}

#[test]
fn report_prints_on_a4_pages_with_every_table_whole() {
    let test = "report_prints_on_a4_pages_with_every_table_whole";
    let Some(tools) = print_tools(test, true) else {
        return;
    };
    let dir = scratch("print_report");
    let report = sample_run().join("report/index.html");
    let pdf = dir.join("rapport.pdf");
    run_tool(
        chromium(&tools.browser, &dir)
            .arg(format!("--print-to-pdf={}", pdf.display()))
            .arg(file_url(&report)),
        180,
    );
    let html = std::fs::read_to_string(&report).unwrap();
    let pages = pdf_pages(&tools.pdfinfo, &pdf);
    assert!(
        pages.iter().all(|&p| is_a4(p, false)),
        "every page A4 portrait (the print stylesheet's @page): {pages:?}"
    );
    // Main sections start a page, model cards' sections do not: about a page per heading
    // (the sample: 38 pages for 42 headings).
    let sections = html.matches("<h2").count();
    assert!(
        pages.len() >= sections / 2 && pages.len() <= 2 * sections,
        "{} pages for {sections} headings",
        pages.len()
    );
    // A table cut at the right edge loses its last columns, and a table squeezed by words
    // broken anywhere prints "al ert e": every word of every header cell of every table is
    // a word of the printed text.
    let words: std::collections::HashSet<String> = pdf_text(&tools.pdftotext, &pdf)
        .concat()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let headers = header_cells(&html);
    assert!(headers.len() > 20, "the report's tables have headers");
    let missing: std::collections::BTreeSet<&str> = headers
        .iter()
        .flat_map(|h| h.split_whitespace())
        .filter(|w| !words.contains(*w))
        .collect();
    assert!(
        missing.is_empty(),
        "header words not in the printed report (columns cut or words broken): {missing:?}"
    );
}

#[test]
fn caisse_list_prints_landscape_on_a4_fit_to_width_with_its_header_on_every_page() {
    let test = "caisse_list_prints_landscape_on_a4_fit_to_width_with_its_header_on_every_page";
    let Some(soffice) = print_tool(test, &["soffice", "libreoffice"], "libreoffice-calc-nogui")
    else {
        return;
    };
    let Some(tools) = print_tools(test, false) else {
        return;
    };
    // The caisse with the longest list (its Parquet twin counts the rows).
    let lists = sample_run().join("lists");
    let xlsx = std::fs::read_dir(&lists)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("contacts.xlsx").exists())
        .max_by_key(|p| {
            (
                read_parquet(&p.join("contacts.parquet")).height(),
                p.clone(),
            )
        })
        .unwrap()
        .join("contacts.xlsx");
    let dir = scratch("print_list");
    let mut wb: Xlsx<_> = open_workbook(&xlsx).unwrap();
    let sheet = wb.worksheet_range("Contacts").unwrap();
    let cells: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    let id_column = cells[0].iter().position(|h| h == "Identifiant").unwrap();
    // The sheet hides the amount column of a benefit none of its rows has.
    let hidden: Vec<&str> = ["montant_ppa", "montant_rsa", "montant_aspa"]
        .into_iter()
        .map(|n| recours::stages::lists::exports::column(n).header)
        .filter(|h| {
            let j = cells[0].iter().position(|x| x == h).unwrap();
            cells[1..].iter().all(|r| r[j].is_empty())
        })
        .collect();
    let header: Vec<&String> = cells[0]
        .iter()
        .filter(|h| !hidden.contains(&h.as_str()))
        .collect();
    // An id wraps over several lines of its column: its first 12 characters find it.
    let ids: Vec<String> = cells[1..]
        .iter()
        .map(|r| r[id_column].chars().take(12).collect())
        .collect();
    assert!(ids.len() >= 10, "a list long enough to print on pages");
    run_tool(
        Command::new(&soffice)
            .arg(format!("-env:UserInstallation={}/profile", file_url(&dir)))
            .args([
                "--headless",
                "--norestore",
                "--convert-to",
                "pdf",
                "--outdir",
            ])
            .arg(&dir)
            .arg(&xlsx),
        180,
    );
    let pdf = dir.join("contacts.pdf");
    let pages = pdf_pages(&tools.pdfinfo, &pdf);
    let text = pdf_text(&tools.pdftotext, &pdf);
    assert_eq!(pages.len(), text.len());
    // The pages of the Contacts sheet: those that show one of its people.
    let contact_pages: Vec<usize> = (0..text.len())
        .filter(|&k| {
            ids.iter()
                .any(|id| squeezed(&text[k]).contains(id.as_str()))
        })
        .collect();
    assert!(!contact_pages.is_empty(), "the list's people are printed");
    for &k in &contact_pages {
        assert!(
            is_a4(pages[k], true),
            "page {} landscape A4: {:?}",
            k + 1,
            pages[k]
        );
        // Fit to width: every column on the page; the header row repeated on each page.
        // Headers wrap in their narrow cells (also after a hyphen or a slash): compared
        // word by word.
        let page = pieces(&text[k]);
        let missing: Vec<&str> = header
            .iter()
            .flat_map(|h| pieces_of(h))
            .filter(|w| !page.contains(*w))
            .collect();
        assert!(
            missing.is_empty(),
            "page {}: headers missing (columns cut or header not repeated): {missing:?}",
            k + 1
        );
    }
    // Every person of the sheet printed, on a sane number of pages (at least 8 people a
    // page: a row is at most four lines, its id's).
    let all = squeezed(&text.concat());
    assert!(ids.iter().all(|id| all.contains(id.as_str())));
    assert!(
        contact_pages.len() <= ids.len().div_ceil(8),
        "{} pages for {} people",
        contact_pages.len(),
        ids.len()
    );
}
