"""政策咨询: policy documents, their lifecycle and Chinese full-text search."""
