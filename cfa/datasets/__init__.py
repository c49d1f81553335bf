"""Dataset readers (torch Datasets), simulators and preprocessors. One module per dataset."""
