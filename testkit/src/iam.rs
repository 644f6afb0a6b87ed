//! The IAM actions an environment's DynamoDB calls need, recorded by an SDK interceptor, so
//! tests can hold each function's policy in `template.yaml` to what its code really sends. A
//! transaction needs the action of each of its parts (IAM has no `TransactWriteItems` action).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// The actions (`dynamodb:GetItem`, …) sent since the last [`IamActions::take`].
#[derive(Debug, Clone, Default)]
pub struct IamActions(Arc<Mutex<BTreeSet<String>>>);

impl IamActions {
    pub fn take(&self) -> BTreeSet<String> {
        std::mem::take(&mut *self.0.lock().expect("action log"))
    }
}

/// What one call needs: its own action, or for a write transaction, each part's.
fn actions_of<'a>(operation: &'a str, transaction: Option<&TransactWriteItemsInput>) -> Vec<&'a str> {
    let Some(tx) = transaction else {
        return vec![if operation == "TransactGetItems" { "GetItem" } else { operation }];
    };
    tx.transact_items()
        .iter()
        .map(|item| {
            if item.put.is_some() {
                "PutItem"
            } else if item.update.is_some() {
                "UpdateItem"
            } else if item.delete.is_some() {
                "DeleteItem"
            } else {
                "ConditionCheckItem"
            }
        })
        .collect()
}

impl Intercept for IamActions {
    fn name(&self) -> &'static str {
        "IamActions"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map_or("unknown", |m| m.name());
        let transaction = context.input().downcast_ref::<TransactWriteItemsInput>();
        let mut log = self.0.lock().expect("action log");
        for action in actions_of(operation, transaction) {
            log.insert(format!("dynamodb:{action}"));
        }
        Ok(())
    }
}
