"""ClassPulse dashboard entry point: `streamlit run streamlit_app.py`."""

import streamlit as st

st.set_page_config(page_title="ClassPulse", page_icon=":bar_chart:", layout="wide")
st.title("ClassPulse")
st.write("Engagement monitor for online classrooms. The dashboard pages arrive with the dashboard issue.")
