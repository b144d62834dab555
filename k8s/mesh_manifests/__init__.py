"""Checks over the rendered Kubernetes manifests of the mesh (k8s/validate.py runs them all).

Each check takes the objects one overlay renders to and returns findings; none needs a
cluster or the network.
"""
