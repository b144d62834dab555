"""What ``feast apply`` / ``feast plan`` register from this repo: the very objects the
services apply (built by churn_features.definitions), for the store located by the
``CHURN_FEATURES_*`` environment (the same variables feature_store.yaml expands)."""

from churn_features.definitions import customer, customer_activity_view, offline_source
from churn_features.settings import FeatureStoreSettings

__all__ = ["customer", "customer_activity"]

customer_activity = customer_activity_view(offline_source(FeatureStoreSettings.from_environment()))
