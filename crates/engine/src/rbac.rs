//! RBAC objects (`rbac.authorization.k8s.io/v1` Roles, ClusterRoles, RoleBindings,
//! ClusterRoleBindings): CRUD with kube-apiserver's validation, kept in the store and in memory,
//! with the authorization [`Index`] rebuilt on every change so that the server reads it without
//! a store call.
//!
//! Writes are rare and serialised by one async lock (`Engine::rbac_write`), so the store and the
//! in-memory copy change together. At start the built-in ClusterRoles and ClusterRoleBindings
//! are created when missing (kube's auto-reconcile of its bootstrap policy); an edited one is
//! left as it is. Every write publishes its watch event (`Topic::Rbac`).

use std::{collections::BTreeMap, sync::Arc};

use serde::{Serialize, de::DeserializeOwned};
use veranda_api::{
    ObjectMeta,
    metadata::FieldError,
    rbac::{self, Index, RbacKind, Role, RoleBinding},
};
use veranda_storage::ObjectTable;

use crate::{Engine, Error, EventType, Kind, Topic, secrets::random_uid, time};

/// Roles and bindings in memory, by (kind, namespace, name), and the index built from them
/// (opaque outside the engine).
#[derive(Default)]
pub struct RbacState {
    roles: BTreeMap<Key, Role>,
    bindings: BTreeMap<Key, RoleBinding>,
    index: Arc<Index>,
}

/// (kind, namespace (`""` for cluster-scoped kinds), name).
pub type Key = (RbacKind, String, String);

/// A [`Role`] (Roles and ClusterRoles) or a [`RoleBinding`] (RoleBindings and
/// ClusterRoleBindings): what the generic RBAC methods of the engine work on.
pub trait RbacObject: Clone + PartialEq + Serialize + DeserializeOwned + Send + 'static {
    /// The object's metadata.
    fn meta(&self) -> &ObjectMeta;
    /// The object's metadata, to change.
    fn meta_mut(&mut self) -> &mut ObjectMeta;
    /// Sets `apiVersion`, `kind` and defaults.
    fn normalize(&mut self, kind: RbacKind);
    /// kube-apiserver's checks of a create.
    fn validate(&self, kind: RbacKind) -> Result<(), FieldError>;
    /// kube-apiserver's checks of an update of `current`.
    fn validate_update(&self, current: &Self, kind: RbacKind) -> Result<(), FieldError>;
    #[doc(hidden)]
    fn map(state: &RbacState) -> &BTreeMap<Key, Self>;
    #[doc(hidden)]
    fn map_mut(state: &mut RbacState) -> &mut BTreeMap<Key, Self>;
}

impl RbacObject for Role {
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
    fn normalize(&mut self, kind: RbacKind) {
        Role::normalize(self, kind)
    }
    fn validate(&self, kind: RbacKind) -> Result<(), FieldError> {
        Role::validate(self, kind)
    }
    fn validate_update(&self, _current: &Self, kind: RbacKind) -> Result<(), FieldError> {
        Role::validate(self, kind)
    }
    fn map(state: &RbacState) -> &BTreeMap<Key, Self> {
        &state.roles
    }
    fn map_mut(state: &mut RbacState) -> &mut BTreeMap<Key, Self> {
        &mut state.roles
    }
}

impl RbacObject for RoleBinding {
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
    fn normalize(&mut self, kind: RbacKind) {
        RoleBinding::normalize(self, kind)
    }
    fn validate(&self, kind: RbacKind) -> Result<(), FieldError> {
        RoleBinding::validate(self, kind)
    }
    fn validate_update(&self, current: &Self, kind: RbacKind) -> Result<(), FieldError> {
        RoleBinding::validate_update(self, current, kind)
    }
    fn map(state: &RbacState) -> &BTreeMap<Key, Self> {
        &state.bindings
    }
    fn map_mut(state: &mut RbacState) -> &mut BTreeMap<Key, Self> {
        &mut state.bindings
    }
}

impl Engine {
    /// The authorization index of the current RBAC objects (cheap: an `Arc`).
    pub fn rbac_index(&self) -> Arc<Index> {
        self.rbac_read().index.clone()
    }

    /// Refuses a request that names a Secret (`secretRef`) its user may not read: the server
    /// would otherwise hand the Secret's credentials to a remote the user chose. Work outside a
    /// request (the service itself) may.
    pub(crate) fn check_secret_use(
        &self,
        kind: crate::Kind,
        object: &str,
        namespace: &str,
        secret: &str,
    ) -> Result<(), Error> {
        let Some(user) = crate::requester::current() else { return Ok(()) };
        let attributes = rbac::Attributes::Resource(rbac::ResourceAttributes {
            verb: "get",
            group: "",
            resource: "secrets",
            subresource: "",
            namespace,
            name: secret,
        });
        let info = rbac::UserInfo { name: &user.name, groups: &user.groups };
        if self.rbac_index().allows(&info, &attributes) {
            return Ok(());
        }
        Err(Error::Forbidden {
            kind,
            name: object.to_string(),
            message: format!(
                "User {:?} cannot get resource \"secrets\" in API group \"\" in the namespace {namespace:?}, and so cannot use Secret {secret:?} for Git credentials",
                user.name
            ),
        })
    }

    /// Objects of `kind` in `namespace` (all namespaces when None), ordered by namespace and
    /// name.
    pub fn list_rbac<T: RbacObject>(&self, kind: RbacKind, namespace: Option<&str>) -> Vec<T> {
        let state = self.rbac_read();
        T::map(&state)
            .iter()
            .filter(|((k, ns, _), _)| *k == kind && namespace.is_none_or(|want| want == ns))
            .map(|(_, object)| object.clone())
            .collect()
    }

    /// One object of `kind` (`namespace` is ignored for cluster-scoped kinds).
    pub fn get_rbac<T: RbacObject>(
        &self,
        kind: RbacKind,
        namespace: &str,
        name: &str,
    ) -> Result<T, Error> {
        let state = self.rbac_read();
        T::map(&state)
            .get(&key(kind, namespace, name))
            .cloned()
            .ok_or_else(|| not_found(kind, name))
    }

    /// Creates an object of `kind`.
    pub async fn create_rbac<T: RbacObject>(
        &self,
        kind: RbacKind,
        namespace: &str,
        mut object: T,
    ) -> Result<T, Error> {
        object.normalize(kind);
        let name = object.meta().name.clone();
        object.validate(kind).map_err(|e| invalid(kind, &name, e))?;
        let _write = self.rbac_write.lock().await;
        let key = key(kind, namespace, &name);
        if T::map(&self.rbac_read()).contains_key(&key) {
            return Err(Error::AlreadyExists { kind: error_kind(kind), name, message: None });
        }
        let metadata = object.meta_mut();
        metadata.namespace = key.1.clone();
        metadata.uid = random_uid()?;
        metadata.creation_timestamp = Some(time::now());
        metadata.generation = 0;
        metadata.deletion_timestamp = None;
        self.put_rbac(key, object, EventType::Added).await
    }

    /// Replaces an object of `kind` (the resourceVersion, when given, must be current; a
    /// binding's roleRef cannot change).
    pub async fn update_rbac<T: RbacObject>(
        &self,
        kind: RbacKind,
        namespace: &str,
        name: &str,
        mut object: T,
    ) -> Result<T, Error> {
        if object.meta().name.is_empty() {
            object.meta_mut().name = name.to_string();
        }
        if object.meta().name != name {
            return Err(Error::invalid(
                error_kind(kind),
                name,
                "metadata.name",
                "field is immutable",
            ));
        }
        object.normalize(kind);
        let _write = self.rbac_write.lock().await;
        let key = key(kind, namespace, name);
        let current: T = self.get_rbac(kind, namespace, name)?;
        let requested = &object.meta().resource_version;
        if !requested.is_empty() && *requested != current.meta().resource_version {
            return Err(Error::stale());
        }
        object.validate_update(&current, kind).map_err(|e| invalid(kind, name, e))?;
        let metadata = object.meta_mut();
        metadata.namespace = key.1.clone();
        metadata.uid = current.meta().uid.clone();
        metadata.creation_timestamp = current.meta().creation_timestamp.clone();
        metadata.resource_version = current.meta().resource_version.clone();
        if object == current {
            return Ok(current);
        }
        self.put_rbac(key, object, EventType::Modified).await
    }

    /// Deletes an object of `kind`; returns it as it was.
    pub async fn delete_rbac<T: RbacObject>(
        &self,
        kind: RbacKind,
        namespace: &str,
        name: &str,
    ) -> Result<T, Error> {
        let _write = self.rbac_write.lock().await;
        let key = key(kind, namespace, name);
        let mut current: T = self.get_rbac(kind, namespace, name)?;
        let writing = self.hub.writing();
        self.store.delete_object(table(kind), key.1.clone(), key.2.clone()).await?;
        {
            let mut state = self.rbac_mut();
            T::map_mut(&mut state).remove(&key);
            reindex(&mut state);
        }
        // A deletion is an event with a fresh resourceVersion, as in kube-apiserver.
        let rv = self.store.reserve_resource_versions(1).await?;
        writing.committed(Some(rv));
        current.meta_mut().resource_version = rv.to_string();
        self.publish_event(rv, EventType::Deleted, Topic::Rbac(kind), &current);
        drop(writing);
        Ok(current)
    }

    /// Reads the RBAC tables into memory and creates the built-in objects that are missing.
    pub(crate) async fn load_rbac(&self) -> Result<(), Error> {
        let mut state = RbacState::default();
        for kind in [RbacKind::Role, RbacKind::ClusterRole] {
            load(&mut state.roles, kind, self.store.list_objects(table(kind)).await?)?;
        }
        for kind in [RbacKind::RoleBinding, RbacKind::ClusterRoleBinding] {
            load(&mut state.bindings, kind, self.store.list_objects(table(kind)).await?)?;
        }
        reindex(&mut state);
        *self.rbac_mut() = state;
        let mut created = Vec::new();
        for role in rbac::bootstrap_cluster_roles() {
            let name = role.metadata.name.clone();
            if self.get_rbac::<Role>(RbacKind::ClusterRole, "", &name).is_err() {
                tracing::debug!(name = %name, "creating built-in ClusterRole");
                self.create_rbac(RbacKind::ClusterRole, "", role).await?;
                created.push(name);
            }
        }
        for binding in rbac::bootstrap_cluster_role_bindings() {
            let name = binding.metadata.name.clone();
            if self.get_rbac::<RoleBinding>(RbacKind::ClusterRoleBinding, "", &name).is_err() {
                tracing::debug!(name = %name, "creating built-in ClusterRoleBinding");
                self.create_rbac(RbacKind::ClusterRoleBinding, "", binding).await?;
                created.push(name);
            }
        }
        if !created.is_empty() {
            tracing::info!(objects = %created.join(", "), "created the built-in RBAC objects that were missing");
        }
        Ok(())
    }

    async fn put_rbac<T: RbacObject>(
        &self,
        key: Key,
        mut object: T,
        event_type: EventType,
    ) -> Result<T, Error> {
        object.meta_mut().resource_version.clear();
        let stored = object.clone();
        let writing = self.hub.writing();
        let row = self
            .store
            .put_object(table(key.0), key.1.clone(), key.2.clone(), move |rv| {
                let mut stored = stored.clone();
                stored.meta_mut().resource_version = rv.to_string();
                serde_json::to_string(&stored).unwrap_or_default()
            })
            .await?;
        object.meta_mut().resource_version = row.resource_version.to_string();
        let kind = key.0;
        {
            let mut state = self.rbac_mut();
            T::map_mut(&mut state).insert(key, object.clone());
            reindex(&mut state);
        }
        writing.committed(Some(row.resource_version));
        self.publish_event(row.resource_version, event_type, Topic::Rbac(kind), &object);
        drop(writing);
        Ok(object)
    }

    fn rbac_read(&self) -> std::sync::RwLockReadGuard<'_, RbacState> {
        self.rbac.read().unwrap_or_else(|e| e.into_inner())
    }

    fn rbac_mut(&self) -> std::sync::RwLockWriteGuard<'_, RbacState> {
        self.rbac.write().unwrap_or_else(|e| e.into_inner())
    }
}

fn load<T: RbacObject>(
    map: &mut BTreeMap<Key, T>,
    kind: RbacKind,
    rows: Vec<veranda_storage::ObjectRow>,
) -> Result<(), Error> {
    for row in rows {
        let mut object: T = serde_json::from_str(&row.object).map_err(|e| {
            Error::Internal(format!(
                "stored {kind} {}/{} is unreadable: {e}",
                row.namespace, row.name
            ))
        })?;
        object.meta_mut().resource_version = row.resource_version.to_string();
        map.insert((kind, row.namespace, row.name), object);
    }
    Ok(())
}

fn reindex(state: &mut RbacState) {
    state.index = Arc::new(Index::build(state.roles.values(), state.bindings.values()));
}

fn key(kind: RbacKind, namespace: &str, name: &str) -> Key {
    let namespace = if kind.namespaced() { namespace } else { "" };
    (kind, namespace.to_string(), name.to_string())
}

fn table(kind: RbacKind) -> ObjectTable {
    match kind {
        RbacKind::Role => ObjectTable::Roles,
        RbacKind::ClusterRole => ObjectTable::ClusterRoles,
        RbacKind::RoleBinding => ObjectTable::RoleBindings,
        RbacKind::ClusterRoleBinding => ObjectTable::ClusterRoleBindings,
    }
}

fn error_kind(kind: RbacKind) -> Kind {
    match kind {
        RbacKind::Role => Kind::Role,
        RbacKind::ClusterRole => Kind::ClusterRole,
        RbacKind::RoleBinding => Kind::RoleBinding,
        RbacKind::ClusterRoleBinding => Kind::ClusterRoleBinding,
    }
}

fn not_found(kind: RbacKind, name: &str) -> Error {
    Error::not_found(error_kind(kind), name)
}

fn invalid(kind: RbacKind, name: &str, e: FieldError) -> Error {
    Error::invalid(error_kind(kind), name, &e.field, e.message)
}
