//! hyalto domain (being written).
