//! What a license obliges a user to do, as short factual statements taken from its text.
//!
//! The facts are data: one typed row per license in [`OBLIGATIONS`], looked up by id (case-folded, GNU
//! `-only`/`-or-later`/`+` dropped). The RAIL licenses share their wording through a row of defaults; the
//! Llama 3.1 and later licenses differ only by version and links, so they are rows of [`LLAMA`] filled in
//! by one builder. A static table keeps every field checked by the compiler and costs no parsing at
//! start-up; the price is that a new license is a code change, which suits a list reviewed with the code.
//!
//! It is a reading aid for a reviewer, not legal advice, and only covers licenses common for open models;
//! other SPDX licenses get the metadata the `spdx` crate carries (OSI approval, copyleft), and an unknown
//! `LicenseRef-…` gets nothing. OSI approval always comes from the `spdx` crate, never from a row.

use super::normalize::{canonical_spdx, components, gnu_key, normalize};
use super::Obligations;

/// What a license obliges, as facts. Known open-model licenses come from a table; other SPDX ids get a
/// minimal entry from the `spdx` metadata; unknown `LicenseRef-…` ids get `None`. Accepts any spelling
/// [`normalize`] accepts.
pub fn obligations(id: &str) -> Option<Obligations> {
    if let Some(ob) = table(id) {
        return Some(ob);
    }
    if let Some(lic) = spdx::license_id(id.trim_end_matches('+')) {
        return Some(from_spdx_metadata(id, lic));
    }
    match normalize(id, None) {
        Some((norm, _)) if norm != id && components(&norm).len() == 1 => obligations(&norm),
        _ => None,
    }
}

/// The row of a known license, keyed by canonical id (GNU ids by family).
fn table(id: &str) -> Option<Obligations> {
    let key = gnu_key(id);
    if let Some(row) = OBLIGATIONS.iter().find(|row| gnu_key(row.id) == key) {
        return Some(row.obligations(id));
    }
    LLAMA
        .iter()
        .find(|row| gnu_key(row.id) == key)
        .map(Llama::obligations)
}

/// A minimal entry for an SPDX license the table does not know.
fn from_spdx_metadata(id: &str, lic: spdx::LicenseId) -> Obligations {
    let mut facts = Vec::new();
    if lic.is_copyleft() {
        facts.push(
            "copyleft: derivative works must be distributed under the same license".to_string(),
        );
    }
    if lic.is_fsf_free_libre() {
        facts.push("listed as free by the FSF".to_string());
    }
    if lic.is_deprecated() {
        facts.push("the SPDX id is deprecated".to_string());
    }
    Obligations {
        id: canonical_spdx(lic, id.ends_with('+')),
        name: lic.full_name.to_string(),
        osi_approved: lic.is_osi_approved(),
        commercial_use: if lic.name.contains("-NC") {
            NON_COMMERCIAL.to_string()
        } else {
            "not stated in modelvet's table; read the license".to_string()
        },
        user_threshold: None,
        use_restrictions_flow_down: false,
        attribution: None,
        naming: None,
        facts,
        reference: Some(format!("https://spdx.org/licenses/{}.html", lic.name)),
    }
}

/// Whether the `spdx` crate lists an id (or its `+` base) as OSI-approved; `LicenseRef-…` ids are not.
fn osi_approved(id: &str) -> bool {
    spdx::license_id(id.trim_end_matches('+')).is_some_and(|l| l.is_osi_approved())
}

// ---------------------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------------------

/// One license's obligations as its text states them. A row names only what differs from [`ROW`] (or from
/// a family's defaults such as [`RAIL`]).
struct Entry {
    /// Canonical id, and the lookup key once case-folded and stripped of GNU suffixes.
    id: &'static str,
    name: &'static str,
    /// URL of the license text.
    reference: &'static str,
    commercial_use: &'static str,
    user_threshold: Option<u64>,
    use_restrictions_flow_down: bool,
    attribution: Option<&'static str>,
    naming: Option<&'static str>,
    facts: &'static [&'static str],
    /// A GNU license reports the valid spelling it was asked for (`GPL-3.0-or-later`), else `id`.
    gnu_spelling: bool,
}

impl Entry {
    fn obligations(&self, requested: &str) -> Obligations {
        let id = if self.gnu_spelling {
            requested_gnu_spelling(requested, self.id)
        } else {
            self.id.to_string()
        };
        Obligations {
            osi_approved: osi_approved(&id),
            id,
            name: self.name.to_string(),
            commercial_use: self.commercial_use.to_string(),
            user_threshold: self.user_threshold,
            use_restrictions_flow_down: self.use_restrictions_flow_down,
            attribution: self.attribution.map(str::to_string),
            naming: self.naming.map(str::to_string),
            facts: self.facts.iter().map(|f| f.to_string()).collect(),
            reference: Some(self.reference.to_string()),
        }
    }
}

/// The requested GNU spelling when it is a valid one, else the default.
fn requested_gnu_spelling(id: &str, default: &str) -> String {
    spdx::license_id(id.trim_end_matches('+'))
        .map(|l| canonical_spdx(l, id.ends_with('+')))
        .unwrap_or_else(|| default.to_string())
}

/// What a row does not state: commercial use allowed, no threshold, nothing flows down.
const ROW: Entry = Entry {
    id: "",
    name: "",
    reference: "",
    commercial_use: "allowed",
    user_threshold: None,
    use_restrictions_flow_down: false,
    attribution: None,
    naming: None,
    facts: &[],
    gnu_spelling: false,
};

const BELOW_THRESHOLD: &str = "allowed below a user threshold";
const NON_COMMERCIAL: &str = "non-commercial only";
const NOT_OSI: &str = "not an OSI-approved open-source license";
const NOT_OSI_SOFTWARE: &str = "not an OSI-approved software license";
const NO_MAU_THRESHOLD: &str = "no monthly-active-user threshold";

const CC_ATTRIBUTION: &str = "credit the creator, keep the copyright, license and disclaimer notices, link to \
                              the material and the license, and indicate whether the material was modified";

const LLAMA_700M: &str = "a licensee whose products or services had more than 700 million monthly active \
                          users in the calendar month before the model's release date must request a \
                          license from Meta, which Meta may grant at its discretion";

const QWEN_100M: &str =
    "commercial use by a product or service with more than 100 million monthly active \
                         users requires a license from Alibaba Cloud";

const QWEN_NAMING: &str = "a distributed AI model created, trained, fine-tuned or improved with the Qwen \
                           materials or their outputs must prominently display \"Built with Qwen\" or \
                           \"Improved using Qwen\" in its product documentation";

const RAIL_FLOW_DOWN: &str = "the use-based restrictions (Attachment A) must be included as an enforceable \
                              provision in any agreement governing use or distribution of the model or its \
                              derivatives, and subsequent users must be told they are subject to them";

/// What every RAIL license shares; a RAIL row adds its id, name and reference.
const RAIL: Entry = Entry {
    use_restrictions_flow_down: true,
    attribution: Some(
        "give recipients a copy of the license, mark modified files with a prominent notice, and retain the \
         copyright, patent, trademark and attribution notices",
    ),
    facts: &[
        RAIL_FLOW_DOWN,
        "you may not use the model or derivatives for the uses listed in Attachment A",
        NOT_OSI,
    ],
    ..ROW
};

/// The known licenses, except the Llama 3.1 and later family ([`LLAMA`]).
static OBLIGATIONS: &[Entry] = &[
    Entry {
        id: "Apache-2.0",
        name: "Apache License 2.0",
        reference: "https://www.apache.org/licenses/LICENSE-2.0",
        attribution: Some(
            "give recipients a copy of the license, keep the copyright, patent, trademark and attribution \
             notices, mark modified files with a prominent notice stating the change, and include the \
             attribution notices of any NOTICE file",
        ),
        facts: &[
            "grants a patent license from each contributor, which terminates for anyone who brings a patent \
             suit alleging the work infringes",
            "grants no rights to the licensors' trademarks",
            "provided without warranty",
        ],
        ..ROW
    },
    Entry {
        id: "MIT",
        name: "MIT License",
        reference: "https://opensource.org/license/mit",
        attribution: Some(
            "include the copyright notice and the permission notice in all copies or substantial portions",
        ),
        facts: &["provided without warranty"],
        ..ROW
    },
    Entry {
        id: "BSD-3-Clause",
        name: "BSD 3-Clause \"New\" or \"Revised\" License",
        reference: "https://opensource.org/license/bsd-3-clause",
        attribution: Some(
            "retain the copyright notice, the list of conditions and the disclaimer in source form, and \
             reproduce them in the documentation of binary distributions",
        ),
        facts: &[
            "the names of the copyright holder and contributors may not be used to endorse or promote \
             derived products without written permission",
        ],
        ..ROW
    },
    Entry {
        id: "CC-BY-4.0",
        name: "Creative Commons Attribution 4.0 International",
        reference: "https://creativecommons.org/licenses/by/4.0/legalcode",
        attribution: Some(CC_ATTRIBUTION),
        facts: &[
            "no additional legal terms or technological measures may restrict what the license permits",
            NOT_OSI_SOFTWARE,
        ],
        ..ROW
    },
    Entry {
        id: "CC-BY-NC-4.0",
        name: "Creative Commons Attribution Non Commercial 4.0 International",
        reference: "https://creativecommons.org/licenses/by-nc/4.0/legalcode",
        commercial_use: NON_COMMERCIAL,
        attribution: Some(CC_ATTRIBUTION),
        facts: &[
            "use is limited to purposes not primarily intended for or directed towards commercial \
             advantage or monetary compensation",
            NOT_OSI_SOFTWARE,
        ],
        ..ROW
    },
    Entry {
        id: "CC-BY-SA-4.0",
        name: "Creative Commons Attribution Share Alike 4.0 International",
        reference: "https://creativecommons.org/licenses/by-sa/4.0/legalcode",
        attribution: Some(CC_ATTRIBUTION),
        facts: &[
            "share-alike: adapted material must be shared under the same or a BY-SA-compatible license",
            NOT_OSI_SOFTWARE,
        ],
        ..ROW
    },
    Entry {
        id: "GPL-3.0-only",
        name: "GNU General Public License v3.0",
        reference: "https://www.gnu.org/licenses/gpl-3.0.html",
        attribution: Some(
            "keep the copyright and license notices intact and give recipients a copy of the license",
        ),
        facts: &[
            "copyleft: modified versions must be licensed as a whole under the GPL-3.0",
            "conveying object code requires offering the corresponding source under the same license",
            "each contributor grants a patent license; no further restrictions may be imposed on recipients",
        ],
        gnu_spelling: true,
        ..ROW
    },
    Entry {
        id: "LicenseRef-Llama-2",
        name: "Llama 2 Community License Agreement",
        reference: "https://ai.meta.com/llama/license/",
        commercial_use: BELOW_THRESHOLD,
        user_threshold: Some(700_000_000),
        use_restrictions_flow_down: true,
        attribution: Some(
            "distribute a copy of the agreement and include the notice \"Llama 2 is licensed under the \
             LLAMA 2 Community License, Copyright (c) Meta Platforms, Inc. All Rights Reserved.\" in a \
             \"Notice\" text file distributed with the copies",
        ),
        facts: &[
            LLAMA_700M,
            "use must comply with the Llama 2 Acceptable Use Policy (https://ai.meta.com/llama/use-policy)",
            "the Llama materials or their outputs may not be used to improve any other large language \
             model, except Llama 2 and its derivatives",
            NOT_OSI,
        ],
        ..ROW
    },
    Entry {
        id: "LicenseRef-Llama-3",
        name: "Meta Llama 3 Community License Agreement",
        reference: "https://llama.meta.com/llama3/license/",
        commercial_use: BELOW_THRESHOLD,
        user_threshold: Some(700_000_000),
        use_restrictions_flow_down: true,
        attribution: Some(
            "distribute a copy of the agreement, prominently display \"Built with Meta Llama 3\" on a \
             related website, user interface, blog post, about page or product documentation, and \
             include the notice \"Meta Llama 3 is licensed under the Meta Llama 3 Community License, \
             Copyright © Meta Platforms, Inc. All Rights Reserved.\" in a \"Notice\" text file",
        ),
        naming: Some(
            "an AI model created, trained, fine-tuned or improved with the Llama materials and distributed \
             must include \"Llama 3\" at the beginning of its name",
        ),
        facts: &[
            LLAMA_700M,
            "use must comply with the Meta Llama 3 Acceptable Use Policy \
             (https://llama.meta.com/llama3/use-policy)",
            "the Llama materials or their outputs may not be used to improve any other large language \
             model, except Meta Llama 3 and its derivatives",
            NOT_OSI,
        ],
        ..ROW
    },
    Entry {
        id: "LicenseRef-Gemma",
        name: "Gemma Terms of Use",
        reference: "https://ai.google.dev/gemma/terms",
        use_restrictions_flow_down: true,
        attribution: Some(
            "give all third-party recipients a copy of the terms, mark modified files with a prominent \
             notice, and accompany every distribution (other than through a hosted service) with a \
             \"Notice\" text file stating \"Gemma is provided under and subject to the Gemma Terms of Use \
             found at ai.google.dev/gemma/terms\"",
        ),
        facts: &[
            NO_MAU_THRESHOLD,
            "the use restrictions (the Gemma Prohibited Use Policy, \
             https://ai.google.dev/gemma/prohibited_use_policy) must be included as an enforceable \
             provision in any agreement governing use or distribution of Gemma or its derivatives, with \
             notice to subsequent users",
            "Google may restrict, remotely or otherwise, usage it reasonably believes violates the terms",
            "Google claims no rights in outputs generated with Gemma",
            NOT_OSI,
        ],
        ..ROW
    },
    Entry {
        id: "LicenseRef-Qwen",
        name: "Qwen License Agreement",
        reference: "https://huggingface.co/Qwen/Qwen2.5-72B-Instruct/blob/main/LICENSE",
        commercial_use: BELOW_THRESHOLD,
        user_threshold: Some(100_000_000),
        attribution: Some(
            "give recipients a copy of the agreement, mark modified files with a prominent notice, and \
             include the notice \"Qwen is licensed under the Qwen LICENSE AGREEMENT, Copyright (c) \
             Alibaba Cloud. All Rights Reserved.\" in a \"Notice\" text file",
        ),
        naming: Some(QWEN_NAMING),
        facts: &[QWEN_100M, NOT_OSI],
        ..ROW
    },
    Entry {
        id: "LicenseRef-Tongyi-Qianwen",
        name: "Tongyi Qianwen License Agreement",
        reference: "https://github.com/QwenLM/Qwen/blob/main/Tongyi%20Qianwen%20LICENSE%20AGREEMENT",
        commercial_use: BELOW_THRESHOLD,
        user_threshold: Some(100_000_000),
        attribution: Some(
            "give recipients a copy of the agreement, mark modified files with a prominent notice, and \
             include the notice \"Tongyi Qianwen is licensed under the Tongyi Qianwen LICENSE AGREEMENT, \
             Copyright (c) Alibaba Cloud. All Rights Reserved.\" in a \"Notice\" text file",
        ),
        facts: &[
            QWEN_100M,
            "the materials or their outputs may not be used to improve any other large language model, \
             except Tongyi Qianwen and its derivatives",
            NOT_OSI,
        ],
        ..ROW
    },
    Entry {
        id: "LicenseRef-Qwen-Research",
        name: "Qwen Research License Agreement",
        reference: "https://huggingface.co/Qwen/Qwen2.5-3B-Instruct/blob/main/LICENSE",
        commercial_use: NON_COMMERCIAL,
        attribution: Some(
            "give recipients a copy of the agreement, mark modified files with a prominent notice, and \
             include the agreement's attribution notice (\"Qwen is licensed under the Qwen RESEARCH \
             LICENSE AGREEMENT, Copyright (c) Alibaba Cloud…\") in a \"Notice\" text file",
        ),
        naming: Some(QWEN_NAMING),
        facts: &[
            "use is limited to non-commercial or research purposes; commercial use requires a separate \
             license from Alibaba Cloud",
            NOT_OSI,
        ],
        ..ROW
    },
    Entry {
        id: "LicenseRef-DeepSeek",
        name: "DeepSeek License Agreement",
        reference: "https://github.com/deepseek-ai/DeepSeek-LLM/blob/HEAD/LICENSE-MODEL",
        use_restrictions_flow_down: true,
        attribution: Some(
            "give recipients a copy of the agreement, mark modified files with a prominent notice, and \
             retain the copyright, patent, trademark and attribution notices",
        ),
        facts: &[RAIL_FLOW_DOWN, NO_MAU_THRESHOLD, NOT_OSI],
        ..ROW
    },
    Entry {
        id: "LicenseRef-OpenRAIL",
        name: "Open RAIL License",
        reference: "https://www.licenses.ai/",
        ..RAIL
    },
    Entry {
        id: "LicenseRef-OpenRAIL-plusplus-M",
        name: "CreativeML Open RAIL++-M License",
        reference: "https://github.com/Stability-AI/generative-models/blob/main/model_licenses/LICENSE-SDXL1.0",
        ..RAIL
    },
    Entry {
        id: "LicenseRef-CreativeML-OpenRAIL-M",
        name: "CreativeML Open RAIL-M License",
        reference: "https://huggingface.co/spaces/CompVis/stable-diffusion-license",
        ..RAIL
    },
    Entry {
        id: "LicenseRef-BigScience-OpenRAIL-M",
        name: "BigScience Open RAIL-M License",
        reference: "https://www.licenses.ai/blog/2022/8/26/bigscience-open-rail-m-license",
        ..RAIL
    },
    Entry {
        id: "LicenseRef-BigScience-BLOOM-RAIL-1.0",
        name: "BigScience BLOOM RAIL License v1.0",
        reference: "https://huggingface.co/spaces/bigscience/license",
        ..RAIL
    },
    Entry {
        id: "LicenseRef-BigCode-OpenRAIL-M",
        name: "BigCode Open RAIL-M v1 License Agreement",
        reference: "https://www.bigcode-project.org/docs/pages/bigcode-openrail/",
        ..RAIL
    },
];

// ---------------------------------------------------------------------------------------------------------
// The Llama 3.1+ family
// ---------------------------------------------------------------------------------------------------------

/// A Llama community license from 3.1 on: one wording, with the version and the links filled in.
struct Llama {
    id: &'static str,
    version: &'static str,
    /// URL of the license text.
    reference: &'static str,
    /// URL of the Acceptable Use Policy.
    aup: &'static str,
    /// The policy withholds the multimodal models' rights from EU-domiciled individuals and companies.
    eu_multimodal: bool,
}

static LLAMA: &[Llama] = &[
    Llama {
        id: "LicenseRef-Llama-3.1",
        version: "3.1",
        reference: "https://www.llama.com/llama3_1/license/",
        aup: "https://www.llama.com/llama3_1/use-policy",
        eu_multimodal: false,
    },
    Llama {
        id: "LicenseRef-Llama-3.2",
        version: "3.2",
        reference: "https://www.llama.com/llama3_2/license/",
        aup: "https://www.llama.com/llama3_2/use-policy",
        eu_multimodal: true,
    },
    Llama {
        id: "LicenseRef-Llama-3.3",
        version: "3.3",
        reference: "https://www.llama.com/llama3_3/license/",
        aup: "https://www.llama.com/llama3_3/use-policy",
        eu_multimodal: false,
    },
    Llama {
        id: "LicenseRef-Llama-4",
        version: "4",
        reference: "https://www.llama.com/llama4/license/",
        aup: "https://www.llama.com/llama4/use-policy",
        eu_multimodal: true,
    },
];

impl Llama {
    fn obligations(&self) -> Obligations {
        let version = self.version;
        let mut facts = vec![
            LLAMA_700M.to_string(),
            format!(
                "use must comply with the Llama {version} Acceptable Use Policy ({})",
                self.aup
            ),
            "no license is granted to Meta's trademarks beyond the \"Built with Llama\" display"
                .to_string(),
            NOT_OSI.to_string(),
        ];
        if self.eu_multimodal {
            facts.push(
                "per the Acceptable Use Policy, the rights for multimodal models are not granted to \
                 individuals domiciled in, or companies with a principal place of business in, the European \
                 Union (end users of a product that incorporates them are not affected)"
                    .to_string(),
            );
        }
        Obligations {
            id: self.id.to_string(),
            name: format!("Llama {version} Community License Agreement"),
            osi_approved: osi_approved(self.id),
            commercial_use: BELOW_THRESHOLD.to_string(),
            user_threshold: Some(700_000_000),
            use_restrictions_flow_down: true,
            attribution: Some(format!(
                "distribute a copy of the agreement, prominently display \"Built with Llama\" on a related \
                 website, user interface, blog post, about page or product documentation, and include the \
                 notice \"Llama {version} is licensed under the Llama {version} Community License, Copyright \
                 © Meta Platforms, Inc. All Rights Reserved.\" in a \"Notice\" text file distributed with the \
                 copies"
            )),
            naming: Some(
                "an AI model created, trained, fine-tuned or improved with the Llama materials and \
                 distributed must include \"Llama\" at the beginning of its name"
                    .to_string(),
            ),
            facts,
            reference: Some(self.reference.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::normalize::MODEL_LICENSES;
    use super::*;

    #[test]
    fn llama_3_1_obligations() {
        let ob = obligations("LicenseRef-Llama-3.1").expect("known");
        assert_eq!(ob.user_threshold, Some(700_000_000));
        assert!(ob.use_restrictions_flow_down);
        assert!(!ob.osi_approved);
        assert_eq!(ob.commercial_use, "allowed below a user threshold");
        assert!(ob
            .naming
            .as_deref()
            .is_some_and(|n| n.contains("\"Llama\" at the beginning")));
        assert!(ob
            .attribution
            .as_deref()
            .is_some_and(|a| a.contains("Built with Llama")
                && a.contains("Llama 3.1 is licensed under the Llama 3.1 Community License")));
        assert!(ob.facts.iter().any(|f| f.contains("700 million")));
        assert!(obligations("LicenseRef-Llama-3.2")
            .is_some_and(|o| o.facts.iter().any(|f| f.contains("European Union"))));
        assert!(obligations("llama3.1").is_some_and(|o| o.id == "LicenseRef-Llama-3.1"));
    }

    #[test]
    fn other_obligations() {
        let apache = obligations("Apache-2.0").expect("known");
        assert!(apache.osi_approved);
        assert!(apache
            .attribution
            .as_deref()
            .is_some_and(|a| a.contains("NOTICE")));
        let gemma = obligations("LicenseRef-Gemma").expect("known");
        assert!(
            gemma.use_restrictions_flow_down
                && !gemma.osi_approved
                && gemma.user_threshold.is_none()
        );
        assert!(gemma
            .attribution
            .as_deref()
            .is_some_and(|a| a.contains("ai.google.dev/gemma/terms")));
        assert_eq!(
            obligations("CC-BY-NC-4.0").map(|o| o.commercial_use),
            Some("non-commercial only".into())
        );
        assert_eq!(
            obligations("GPL-3.0-or-later").map(|o| o.id),
            Some("GPL-3.0-or-later".into())
        );
        // Not in the table but known to SPDX: a minimal entry from the metadata.
        let zlib = obligations("Zlib").expect("minimal entry");
        assert!(zlib.osi_approved);
        let mpl = obligations("MPL-2.0").expect("minimal entry");
        assert!(mpl.facts.iter().any(|f| f.starts_with("copyleft")));
        assert_eq!(obligations("LicenseRef-Something-Else"), None);
    }

    /// Every row's id: the lookup keys.
    fn row_ids() -> impl Iterator<Item = &'static str> {
        OBLIGATIONS
            .iter()
            .map(|row| row.id)
            .chain(LLAMA.iter().map(|row| row.id))
    }

    #[test]
    fn every_row_is_found_by_its_own_id_in_any_case() {
        let mut keys: Vec<String> = row_ids().map(gnu_key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), row_ids().count(), "two rows share a lookup key");
        for id in row_ids() {
            let ob = table(id).unwrap_or_else(|| panic!("`{id}` has a row"));
            assert_eq!(ob.id, id);
            assert!(!ob.name.is_empty() && ob.reference.is_some(), "{ob:?}");
            assert_eq!(table(&id.to_ascii_lowercase()), Some(ob.clone()));
            assert_eq!(table(&id.to_ascii_uppercase()), Some(ob.clone()));
            assert_eq!(obligations(id), Some(ob));
        }
    }

    #[test]
    fn rows_name_real_spdx_ids_or_known_model_licenses() {
        for id in row_ids() {
            if id.starts_with("LicenseRef-") {
                assert!(
                    MODEL_LICENSES.iter().any(|m| m.id == id),
                    "`{id}` is not in MODEL_LICENSES, so no declaration can reach it"
                );
            } else {
                let lic = spdx::license_id(id).unwrap_or_else(|| panic!("`{id}` is an SPDX id"));
                assert_eq!(lic.name, id, "`{id}` is the canonical spelling");
            }
        }
    }

    #[test]
    fn model_licenses_have_obligations_under_every_spelling() {
        // Model licenses whose terms the table does not state yet: they get no obligations.
        const NOT_IN_TABLE: &[&str] = &[
            "LicenseRef-Apple-ASCL",
            "LicenseRef-Apple-AMLR",
            "LicenseRef-Intel-Research",
            "LicenseRef-H-Research",
            "LicenseRef-DeepFloyd-IF",
            "LicenseRef-FAIR-Noncommercial-Research",
        ];
        for m in MODEL_LICENSES {
            let ob = obligations(m.id);
            if NOT_IN_TABLE.contains(&m.id) {
                assert_eq!(
                    ob, None,
                    "`{}` now has a row: drop it from NOT_IN_TABLE",
                    m.id
                );
                continue;
            }
            let ob = ob.unwrap_or_else(|| panic!("`{}` has obligations", m.id));
            assert_eq!(ob.id, m.id);
            assert!(!ob.osi_approved);
            for spelling in m.hub_ids.iter().chain(m.names) {
                assert_eq!(obligations(spelling).as_ref(), Some(&ob), "`{spelling}`");
            }
        }
    }

    #[test]
    fn gnu_rows_keep_the_spelling_asked_for() {
        for (asked, id) in [
            ("GPL-3.0", "GPL-3.0-only"),
            ("GPL-3.0-only", "GPL-3.0-only"),
            ("gpl-3.0", "GPL-3.0-only"),
            ("GPL-3.0+", "GPL-3.0-or-later"),
            ("GPL-3.0-or-later", "GPL-3.0-or-later"),
        ] {
            let ob = obligations(asked).unwrap_or_else(|| panic!("`{asked}` is known"));
            assert_eq!(ob.id, id, "`{asked}`");
            assert!(ob.osi_approved, "`{asked}`");
            assert_eq!(ob.facts, obligations("GPL-3.0-only").expect("known").facts);
        }
    }
}
