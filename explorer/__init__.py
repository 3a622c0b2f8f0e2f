"""The Streamlit app: app.py routes, state.py holds the shared network, figures.py draws."""
