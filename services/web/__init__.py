"""The web app: GOV.UK Design System pages over the same application services and policy."""
