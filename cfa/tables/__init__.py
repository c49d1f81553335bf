"""The paper's tables: paper values, assembly from metric JSON files, Markdown/CSV/LaTeX/JSON writers."""
