#!/usr/bin/env python3
"""The ML use of the exports, with nothing but pandas.read_parquet and scikit-learn.

    .venv/bin/python examples/rfm_kmeans.py [EXPORTS_DIR]      (default: exports)

1. Segments customers with KMeans on their RFM features (customer_features.parquet) and prints
   the silhouette score and the size and mean RFM of each cluster.
2. Predicts a line's sales amount from what was known at the order (fact_sales: prior_orders,
   prior_spend, prior_avg_order_value, quantity, price, age, days_since_prev_order) with a linear
   regression on a time split (train before the last year, test on it) and prints R².
"""
import sys

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score, silhouette_score
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

# 2. Sales amount from point-in-time features, time split.
features = ["quantity", "price", "prior_orders", "prior_spend", "prior_avg_order_value", "age", "days_since_prev_order"]
data = facts[features + ["sales_amount", "order_date"]].copy()
data[features] = data[features].astype("float64").fillna(0.0)
cutoff = data["order_date"].max() - pd.Timedelta(days=365)
train, test = data[data["order_date"] <= cutoff], data[data["order_date"] > cutoff]
if len(train) and len(test):
    model = LinearRegression().fit(train[features], train["sales_amount"])
    print(f"LinearRegression sales_amount: train {len(train):,} / test {len(test):,} lines, "
          f"test R² {r2_score(test['sales_amount'], model.predict(test[features])):.3f}")
