//! The portal's pages, server-rendered HTML in French (no script; one style sheet served
//! by the portal itself, so the content security policy allows nothing else).

use crate::domain::codes::Canal;
use crate::domain::month::Month;
use crate::portal::accounts::{Role, Session};
use crate::portal::catalog::{Access, CatalogFile, Run};
use crate::stages::lists::exports;
use crate::stages::report::svg::esc;

pub(crate) const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:0;color:#1e1e1e;background:#f6f6f6}\
header{background:#000091;color:#fff;padding:.8em 1.5em;display:flex;justify-content:space-between;align-items:center}\
header a,header button{color:#fff}\
header form{display:inline}\
button{font:inherit;cursor:pointer}\
header button{background:none;border:1px solid #fff;padding:.2em .8em}\
main{max-width:60em;margin:1.5em auto;padding:0 1.5em}\
section{background:#fff;border:1px solid #ddd;padding:1em 1.5em;margin-bottom:1.5em}\
table{border-collapse:collapse;margin:.5em 0}\
th,td{border:1px solid #ccc;padding:.3em .7em;text-align:left}\
td.n{text-align:right;font-variant-numeric:tabular-nums}\
.alerte{background:#fee;border-left:4px solid #c00;padding:.5em 1em}\
.ok{background:#efe;border-left:4px solid #080;padding:.5em 1em}\
.info{color:#555}\
label{display:block;margin:.6em 0 .2em}\
@page{size:A4;margin:15mm}\
@media print{body{background:#fff}header{background:none;color:#000;border-bottom:1px solid #000}\
header a{color:#000}form,header form{display:none}main{max-width:none;margin:0;padding:0}\
section{border:none;padding:0;break-inside:avoid}a{color:inherit;text-decoration:none}}\
";

/// An integer with French digit grouping (narrow no-break space): `22 621`.
pub(crate) fn fr_int(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

/// A file size in French: `1,2 Mo`, `845 ko`.
pub(crate) fn fr_size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e6 {
        format!("{:.1} Mo", b / 1e6).replace('.', ",")
    } else {
        format!("{} ko", fr_int((b / 1e3).ceil() as usize))
    }
}

/// The page around `body`, with the logged-in person and the logout form.
pub fn layout(title: &str, session: Option<&Session>, body: &str) -> String {
    let who = match session {
        Some(s) => format!(
            "<span>{} — {}</span> <form method=\"post\" action=\"/deconnexion\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button type=\"submit\">Se déconnecter</button></form>",
            esc(&s.user),
            role_label(s.role, s.caisse.as_deref()),
            esc(&s.csrf)
        ),
        None => String::new(),
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} — recours</title><link rel=\"stylesheet\" href=\"/style.css\"></head>\
         <body><header><a href=\"/accueil\"><strong>recours</strong> — portail des caisses</a>\
         <div>{who}</div></header><main><h1>{}</h1>{body}</main></body></html>\n",
        esc(title),
        esc(title)
    )
}

fn role_label(role: Role, caisse: Option<&str>) -> String {
    match role {
        Role::Caisse => format!("caisse {}", esc(caisse.unwrap_or(""))),
        Role::National => "équipe nationale".into(),
        Role::Auditeur => "auditeur".into(),
    }
}

pub fn login(csrf: &str, message: Option<&str>) -> String {
    let alert = message.map_or(String::new(), |m| {
        format!("<p class=\"alerte\">{}</p>", esc(m))
    });
    layout(
        "Connexion",
        None,
        &format!(
            "<section>{alert}<form method=\"post\" action=\"/connexion\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <label for=\"name\">Identifiant</label>\
             <input id=\"name\" name=\"name\" autocomplete=\"username\" required>\
             <label for=\"password\">Mot de passe</label>\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
             <p><button type=\"submit\">Se connecter</button></p></form>\
             <p class=\"info\">Chaque connexion et chaque téléchargement sont enregistrés dans le journal d'audit.</p>\
             </section>",
            esc(csrf)
        ),
    )
}

pub fn message(title: &str, session: Option<&Session>, text: &str) -> String {
    layout(
        title,
        session,
        &format!(
            "<section><p class=\"alerte\">{}</p><p><a href=\"/accueil\">Retour à l'accueil</a></p></section>",
            esc(text)
        ),
    )
}

fn download_link(run: &Run, f: &CatalogFile) -> String {
    format!(
        "<li><a href=\"/runs/{}/fichiers/{}\">{}</a> <span class=\"info\">({})</span></li>",
        esc(&run.id),
        esc(&f.id),
        esc(&f.label),
        fr_size(f.size)
    )
}

/// People per channel of a caisse's list, and the other decisions.
fn counts_table(run: &Run, caisse: &str) -> String {
    let Some(counts) = run.counts.get(caisse) else {
        return "<p>Aucune personne sur la liste de ce mois.</p>".into();
    };
    let mut rows = String::new();
    let mut listed = 0;
    for canal in Canal::ALL {
        let n = counts.get(canal.code()).copied().unwrap_or(0);
        listed += n;
        let label = match canal {
            Canal::Telephone => "Téléphone",
            Canal::Sms => "SMS",
            Canal::Email => "Courriel",
            Canal::Courrier => "Courrier",
        };
        rows.push_str(&format!(
            "<tr><td>{label}</td><td class=\"n\">{}</td></tr>",
            fr_int(n)
        ));
    }
    rows.push_str(&format!(
        "<tr><th>Total à contacter</th><td class=\"n\"><strong>{}</strong></td></tr>",
        fr_int(listed)
    ));
    format!("<table><tr><th>Canal</th><th>Personnes</th></tr>{rows}</table>")
}

/// What a caisse page says about one run.
pub(crate) struct CaisseRun<'a> {
    pub run: &'a Run,
    /// The list is still served (not expired) and the run is intact.
    pub served: bool,
    /// Last month the list is served.
    pub until: Month,
    /// When outcomes of this caisse and month were stored, if they were.
    pub stored: Option<String>,
    /// The result of an upload just made on this run: accepted rows or errors.
    pub upload: Option<Result<usize, Vec<String>>>,
}

pub fn caisse(session: &Session, caisse: &str, label: &str, runs: &[CaisseRun]) -> String {
    let mut body = String::new();
    if runs.is_empty() {
        body.push_str("<section><p>Aucune liste n'est disponible pour cette caisse.</p></section>");
    }
    for r in runs {
        let run = r.run;
        body.push_str(&format!(
            "<section><h2>Liste de {}</h2><p class=\"info\">Traitement {} du {}</p>",
            crate::domain::fr::month(run.month),
            esc(&run.id),
            esc(&run.date)
        ));
        match &r.upload {
            Some(Ok(n)) => body.push_str(&format!(
                "<p class=\"ok\">Retours enregistrés : {} ligne(s). Le prochain traitement les lira.</p>",
                fr_int(*n)
            )),
            Some(Err(errors)) => {
                let shown: String = errors
                    .iter()
                    .take(50)
                    .map(|e| format!("<li>{}</li>", esc(e)))
                    .collect();
                let more = if errors.len() > 50 {
                    format!("<li>… et {} autre(s) erreur(s)</li>", fr_int(errors.len() - 50))
                } else {
                    String::new()
                };
                body.push_str(&format!(
                    "<div class=\"alerte\"><p>Fichier refusé : rien n'a été enregistré. Corrigez les erreurs ci-dessous puis déposez à nouveau le fichier entier.</p><ul>{shown}{more}</ul></div>"
                ));
            }
            None => {}
        }
        body.push_str(&counts_table(run, caisse));
        if r.served {
            body.push_str(&format!(
                "<p>Liste servie jusqu'à fin {} ; ensuite, travaillez la liste du mois suivant.</p><h3>Télécharger</h3><ul>",
                crate::domain::fr::month(r.until)
            ));
            let mut files: Vec<&CatalogFile> =
                run.files_of(&Access::Caisse(caisse.to_string())).collect();
            // The export formats in their order, the read-me last.
            files.sort_by_key(|f| {
                let file = f.name.rsplit('/').next().unwrap_or_default();
                exports::format_of(file).unwrap_or(exports::FORMATS.len())
            });
            for f in files {
                body.push_str(&download_link(run, f));
            }
            body.push_str("</ul>");
            if session.role == Role::Caisse {
                let stored = r.stored.as_ref().map_or(String::new(), |d| {
                    format!(
                        "<p class=\"info\">Des retours ont déjà été déposés pour ce mois ({}) : un nouveau dépôt les remplace.</p>",
                        esc(d)
                    )
                });
                // The outcome columns under the headers the downloaded file shows.
                let header = |name: &str| {
                    format!(
                        "<em>{}</em>",
                        esc(crate::stages::lists::exports::column(name).header)
                    )
                };
                body.push_str(&format!(
                    "<h3>Déposer les retours</h3>\
                     <p>Remplissez les colonnes {}, {}, {} (oui ou non), {} et {} des personnes \
                     contactées dans le fichier XLSX ou CSV téléchargé, puis déposez-le. Les lignes \
                     laissées vides ne sont pas lues. Un fichier qui contient une erreur est refusé \
                     en entier.</p>{stored}\
                     <form method=\"post\" action=\"/caisses/{}/runs/{}/retours\" enctype=\"multipart/form-data\">\
                     <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                     <label for=\"fichier\">Fichier de retours (XLSX ou CSV)</label>\
                     <input id=\"fichier\" name=\"fichier\" type=\"file\" accept=\".xlsx,.csv\" required>\
                     <p><button type=\"submit\">Déposer</button></p></form>",
                    header("joint"),
                    header("demande"),
                    header("droit_ouvert"),
                    header("montant_mensuel"),
                    header("date_contact"),
                    esc(caisse),
                    esc(&run.id),
                    esc(&session.csrf)
                ));
            }
        } else if !run.intact() {
            body.push_str("<p class=\"alerte\">Les fichiers de ce traitement ne correspondent pas à son manifeste : ils ne sont pas servis. L'équipe nationale est prévenue par le journal.</p>");
        } else {
            body.push_str(&format!(
                "<p class=\"alerte\">Liste expirée depuis fin {} : elle n'est plus servie. Travaillez la liste la plus récente.</p>",
                crate::domain::fr::month(r.until)
            ));
        }
        body.push_str("</section>");
    }
    layout(&format!("{label} ({caisse})"), Some(session), &body)
}

/// The national team's home: each run, its national files and a link to each caisse.
pub fn national(session: &Session, runs: &[&Run]) -> String {
    let mut body = String::new();
    for run in runs {
        body.push_str(&format!(
            "<section><h2>Traitement de {}</h2><p class=\"info\">{} du {}{}</p><ul>",
            crate::domain::fr::month(run.month),
            esc(&run.id),
            esc(&run.date),
            if run.intact() {
                ""
            } else {
                " — fichiers non conformes au manifeste : non servis"
            }
        ));
        for f in run.files_of(&Access::National) {
            body.push_str(&download_link(run, f));
        }
        body.push_str(&format!(
            "<li><a href=\"/runs/{}/audit\">Contrôle d'intégrité, manifeste, rapport et fiches de modèle</a></li></ul><h3>Caisses</h3><table><tr><th>Caisse</th><th>Personnes à contacter</th></tr>",
            esc(&run.id)
        ));
        for c in run.caisses() {
            let n: usize = run.counts.get(c).map_or(0, |m| {
                Canal::ALL
                    .iter()
                    .map(|k| m.get(k.code()).copied().unwrap_or(0))
                    .sum()
            });
            body.push_str(&format!(
                "<tr><td><a href=\"/caisses/{}\">{}</a></td><td class=\"n\">{}</td></tr>",
                esc(c),
                esc(c),
                fr_int(n)
            ));
        }
        body.push_str("</table></section>");
    }
    layout("Tous les traitements", Some(session), &body)
}

/// The auditor's home: each run and its audit page.
pub fn auditor(session: &Session, runs: &[&Run]) -> String {
    let mut body = String::from(
        "<section><table><tr><th>Mois</th><th>Traitement</th><th>Date</th><th>Intégrité</th></tr>",
    );
    for run in runs {
        body.push_str(&format!(
            "<tr><td>{}</td><td><a href=\"/runs/{}/audit\">{}</a></td><td>{}</td><td>{}</td></tr>",
            crate::domain::fr::month(run.month),
            esc(&run.id),
            esc(&run.id),
            esc(&run.date),
            if run.intact() {
                "conforme au manifeste"
            } else {
                "NON CONFORME"
            }
        ));
    }
    body.push_str("</table></section>");
    layout("Traitements", Some(session), &body)
}

/// A run's audit page: the integrity check of every output, and the audit files.
pub fn audit(session: &Session, run: &Run) -> String {
    let mut body = format!(
        "<section><h2>Traitement {} ({})</h2><p>{}</p><ul>",
        esc(&run.id),
        crate::domain::fr::month(run.month),
        if run.intact() {
            format!(
                "Chaque fichier produit correspond à son empreinte BLAKE3 du manifeste ({} fichiers).",
                fr_int(run.check.checked.get("output").copied().unwrap_or(0))
            )
        } else {
            format!(
                "{} fichier(s) ne correspondent pas au manifeste : le traitement n'est pas servi.",
                fr_int(run.check.mismatches())
            )
        }
    );
    for f in run.files_of(&Access::Audit) {
        body.push_str(&download_link(run, f));
    }
    body.push_str("</ul><h3>Contrôle des fichiers produits</h3><table><tr><th>Résultat</th><th>Fichier</th></tr>");
    if run.check.problems.is_empty() {
        body.push_str("<tr><td>conforme</td><td>tous les fichiers produits</td></tr>");
    }
    for (_, l) in &run.check.problems {
        let (what, rest) = l.split_once(' ').unwrap_or((l, ""));
        let what = match what {
            "MISMATCH" => "MODIFIÉ",
            "MISSING" => "ABSENT",
            "EXTRA" => "EN TROP",
            other => other,
        };
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td></tr>",
            what,
            esc(rest
                .trim()
                .trim_start_matches("output")
                .trim_start_matches("file")
                .trim())
        ));
    }
    body.push_str("</table><p class=\"info\">Le rejeu complet (<code>recours verify</code>) se lance hors du portail.</p></section>");
    layout("Audit du traitement", Some(session), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_the_french_way() {
        assert_eq!(fr_int(22621), "22\u{202f}621");
        assert_eq!(fr_int(1_000_000), "1\u{202f}000\u{202f}000");
        assert_eq!(fr_int(7), "7");
        assert_eq!(fr_size(1_234_567), "1,2 Mo");
        assert_eq!(fr_size(845_000), "845 ko");
        assert_eq!(
            crate::domain::fr::month(Month::parse("2025-09").unwrap()),
            "septembre 2025"
        );
    }
}
