//! What an update of a package revision asks of its Kptfile: package metadata, readiness gates
//! and status conditions.

use std::collections::BTreeMap;

use veranda_api::types::PackageRevision;
use veranda_kpt::MetadataMode;

use crate::build;

/// What an update asks of the Kptfile: every part the request omitted keeps its current value
/// (typed clients omit empty fields), an explicit empty value clears it (Porch's
/// `applyMetadataToKptfile` and `PatchKptfile`).
pub(super) struct KptfileEdit {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    gates: Vec<String>,
    /// The Kptfile's status conditions after the update, when the request carried some.
    conditions: Option<Vec<veranda_kpt::Condition>>,
    /// The conditions the readiness gates are checked against.
    effective_conditions: Vec<veranda_kpt::Condition>,
}

impl KptfileEdit {
    pub(super) fn requested(
        new: &PackageRevision,
        current: &veranda_kpt::KptfileInfo,
    ) -> KptfileEdit {
        let metadata = new.spec.package_metadata.as_ref();
        let current_conditions: Vec<veranda_kpt::Condition> =
            build::kptfile_conditions(current).iter().map(kpt_condition).collect();
        let conditions =
            new.status.conditions.as_ref().map(|c| c.iter().map(kpt_condition).collect::<Vec<_>>());
        KptfileEdit {
            labels: metadata
                .and_then(|m| m.labels.clone())
                .unwrap_or_else(|| current.labels.clone()),
            annotations: metadata
                .and_then(|m| m.annotations.clone())
                .unwrap_or_else(|| current.annotations.clone()),
            gates: match &new.spec.readiness_gates {
                Some(gates) => gates.iter().map(|g| g.condition_type.clone()).collect(),
                None => current.readiness_gates.clone(),
            },
            effective_conditions: conditions.clone().unwrap_or(current_conditions),
            conditions,
        }
    }

    /// Whether the Kptfile changes.
    pub(super) fn changes(&self, current: &veranda_kpt::KptfileInfo) -> bool {
        let conditions_change = self.conditions.as_ref().is_some_and(|wanted| {
            let now: Vec<veranda_kpt::Condition> =
                build::kptfile_conditions(current).iter().map(kpt_condition).collect();
            *wanted != now
        });
        self.labels != current.labels
            || self.annotations != current.annotations
            || self.gates != current.readiness_gates
            || conditions_change
    }

    /// Porch's check before a proposal or approval (porchctl's `PackageRevisionIsReady`): every
    /// readiness gate's condition is there and `True`.
    pub(super) fn check_ready(&self) -> Result<(), String> {
        for gate in &self.gates {
            let met = self
                .effective_conditions
                .iter()
                .any(|c| c.condition_type == *gate && c.status == "True");
            if !met {
                return Err(format!(
                    "readiness conditions not met: condition {gate:?} of a readiness gate is not True"
                ));
            }
        }
        Ok(())
    }

    /// The Kptfile with the edit applied; `None` when it is unchanged.
    pub(super) fn apply(&self, kptfile: &[u8]) -> Result<Option<Vec<u8>>, veranda_kpt::Error> {
        let metadata = veranda_kpt::set_package_metadata(
            kptfile,
            &self.labels,
            &self.annotations,
            Some(&self.gates),
            MetadataMode::Replace,
        )?;
        let Some(conditions) = &self.conditions else { return Ok(metadata) };
        let base = metadata.as_deref().unwrap_or(kptfile);
        Ok(veranda_kpt::set_status_conditions(base, conditions)?.or(metadata))
    }
}

fn kpt_condition(c: &veranda_api::types::Condition) -> veranda_kpt::Condition {
    veranda_kpt::Condition {
        condition_type: c.condition_type.clone(),
        status: c.status.clone(),
        reason: c.reason.clone(),
        message: c.message.clone(),
    }
}
