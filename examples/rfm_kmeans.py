#!/usr/bin/env python3
"""The ML use of the exports, with nothing but pandas.read_parquet and scikit-learn.

    .venv/bin/python examples/rfm_kmeans.py [EXPORTS_DIR]      (default: exports)

1. Segments customers with KMeans on their RFM features (customer_features.parquet) and prints
   the silhouette score and the size and mean RFM of each cluster.
2. Predicts whether a customer orders again within 180 days of an order, from what was known at
   that order (fact_sales' point-in-time features), with a logistic regression on a time split,
   and prints the test ROC AUC.
"""
import sys

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, silhouette_score
from sklearn.preprocessing import StandardScaler

exports = sys.argv[1] if len(sys.argv) > 1 else "exports"
customers = pd.read_parquet(f"{exports}/customer_features.parquet")
facts = pd.read_parquet(f"{exports}/fact_sales")  # a folder of part files (Hive partitions too)
print(f"customer_features: {len(customers):,} rows; fact_sales: {len(facts):,} rows")

# 1. RFM segmentation (customers with at least one order).
rfm = customers.loc[customers["frequency"] > 0, ["recency_days", "frequency", "monetary"]].astype("float64").dropna()
X = StandardScaler().fit_transform(np.log1p(rfm))
kmeans = KMeans(n_clusters=4, n_init=10, random_state=0).fit(X)
sample = min(len(X), 10_000)
score = silhouette_score(X, kmeans.labels_, sample_size=sample, random_state=0)
print(f"KMeans on RFM: {len(rfm):,} customers, 4 clusters, silhouette {score:.3f}")
print(rfm.assign(cluster=kmeans.labels_).groupby("cluster").agg(customers=("monetary", "size"), recency=("recency_days", "mean"),
                                                               frequency=("frequency", "mean"), monetary=("monetary", "mean")).round(1).to_string())

# 2. Will this customer order again within 180 days? Point-in-time features only (prior_*, days since
#    the previous order, tenure: computed from orders strictly before the row's order date; age at
#    the order), one row per order, a time split, and labels only where the 180 days are fully observed.
HORIZON = pd.Timedelta(days=180)
orders = (facts.groupby(["customer_id", "order_number"], observed=True)
          .agg(order_date=("order_date", "first"), order_value=("sales_amount", "sum"),
               prior_orders=("prior_orders", "first"), prior_spend=("prior_spend", "first"),
               days_since_prev_order=("days_since_prev_order", "first"),
               customer_tenure_days=("customer_tenure_days", "first"))
          .reset_index().sort_values(["customer_id", "order_date"]))
# fact_sales' export carries no customer attributes: customer_features has them, one row per
# customer, merged on customer_id; the calendar age at the order comes from the birthdate.
orders = orders.merge(customers[["customer_id", "birthdate"]], on="customer_id", how="left")
born, ordered = orders["birthdate"], orders["order_date"]
orders["age"] = ordered.dt.year - born.dt.year - ((ordered.dt.month * 100 + ordered.dt.day) < (born.dt.month * 100 + born.dt.day))
orders["next_order_date"] = orders.groupby("customer_id")["order_date"].shift(-1)
last_day = orders["order_date"].max()
observed = orders[orders["order_date"] + HORIZON <= last_day].copy()
observed["reorders"] = (observed["next_order_date"] - observed["order_date"]) <= HORIZON
features = ["order_value", "prior_orders", "prior_spend", "days_since_prev_order", "customer_tenure_days", "age"]
X_all = observed[features].astype("float64").fillna(-1.0)
cutoff = observed["order_date"].quantile(0.7)
train, test = observed["order_date"] <= cutoff, observed["order_date"] > cutoff
if train.any() and test.any() and observed.loc[train, "reorders"].nunique() == 2 and observed.loc[test, "reorders"].nunique() == 2:
    scaler = StandardScaler().fit(X_all[train])
    clf = LogisticRegression(max_iter=1000).fit(scaler.transform(X_all[train]), observed.loc[train, "reorders"])
    auc = roc_auc_score(observed.loc[test, "reorders"], clf.predict_proba(scaler.transform(X_all[test]))[:, 1])
    print(f"LogisticRegression reorder within 180 days: train {int(train.sum()):,} / test {int(test.sum()):,} orders "
          f"(time split at {cutoff.date()}), base rate {observed['reorders'].mean():.3f}, test ROC AUC {auc:.3f}")
else:
    print("not enough labelled orders on both sides of the time split for the reorder model")
